"""NetFlow v9 / IPFIX information elements: id -> name, how to read the bytes, and what it fills in net.conn.

NetFlow v9 field types 1-127 are the IANA IPFIX information elements of the same number (IPFIX grew
out of v9), and Cisco's v9 firewall extensions (NSEL: 231-233, 323, ...) were later registered
under the same numbers, so one table serves both. Element names follow the IANA registry
(https://www.iana.org/assignments/ipfix); unmapped elements land in ``extra`` under the
snake_case form of that name (a few get the short names analysts expect: ``tcp_flags``, ``tos``,
``input_if``, ``output_if``). Unknown elements are named ``f<id>`` (``e<PEN>_f<id>`` for
enterprise-specific ones) and kept as an integer (up to 8 bytes) or hex text.

Kinds say how the bytes are read: ``u`` unsigned big-endian integer of any length (reduced-size
encoding included), ``ip4``/``ip6``/``mac`` addresses, ``str`` UTF-8 text, ``hex`` octet array,
``f`` IEEE float, ``ts_s``/``ts_ms`` epoch seconds/milliseconds, ``ts_us``/``ts_ns`` NTP-format
timestamps (RFC 7011 section 6.1.9-10), ``skip`` padding.

Roles say what an element fills: a net.conn column (``src_ip`` ...), or a time input of the flow
(``start``/``end`` absolute, ``start_up``/``end_up`` milliseconds of exporter uptime,
``start_delta``/``end_delta`` microseconds before export, ``duration_ms``/``duration_us``), or
exporter state read from options records (``sys_init`` time, ``sampling`` interval).
When several elements of a template fill one role, the one listed first in ``ROLE_PRIORITY`` wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: IANA private enterprise number of RFC 5103 reverse (biflow) elements
REVERSE_PEN = 29305


@dataclass(frozen=True)
class Element:
    """One information element: IANA name, the key it gets in ``extra``, its kind and its role."""

    id: int
    name: str
    kind: str
    role: str | None = None
    key: str = ""


# (id, IANA name, kind, role); the "short" names below override the snake_case key of a few
_ELEMENTS: tuple[tuple[int, str, str, str | None], ...] = (
    (1, "octetDeltaCount", "u", "src_bytes"), (2, "packetDeltaCount", "u", "src_pkts"),
    (3, "deltaFlowCount", "u", None), (4, "protocolIdentifier", "u", "proto"),
    (5, "ipClassOfService", "u", None), (6, "tcpControlBits", "u", None),
    (7, "sourceTransportPort", "u", "src_port"), (8, "sourceIPv4Address", "ip4", "src_ip"),
    (9, "sourceIPv4PrefixLength", "u", None), (10, "ingressInterface", "u", None),
    (11, "destinationTransportPort", "u", "dst_port"), (12, "destinationIPv4Address", "ip4", "dst_ip"),
    (13, "destinationIPv4PrefixLength", "u", None), (14, "egressInterface", "u", None),
    (15, "ipNextHopIPv4Address", "ip4", None), (16, "bgpSourceAsNumber", "u", None),
    (17, "bgpDestinationAsNumber", "u", None), (18, "bgpNextHopIPv4Address", "ip4", None),
    (19, "postMCastPacketDeltaCount", "u", None), (20, "postMCastOctetDeltaCount", "u", None),
    (21, "flowEndSysUpTime", "u", "end_up"), (22, "flowStartSysUpTime", "u", "start_up"),
    (23, "postOctetDeltaCount", "u", None), (24, "postPacketDeltaCount", "u", None),
    (25, "minimumIpTotalLength", "u", None), (26, "maximumIpTotalLength", "u", None),
    (27, "sourceIPv6Address", "ip6", "src_ip"), (28, "destinationIPv6Address", "ip6", "dst_ip"),
    (29, "sourceIPv6PrefixLength", "u", None), (30, "destinationIPv6PrefixLength", "u", None),
    (31, "flowLabelIPv6", "u", None), (32, "icmpTypeCodeIPv4", "u", None), (33, "igmpType", "u", None),
    (34, "samplingInterval", "u", "sampling"), (35, "samplingAlgorithm", "u", None),
    (36, "flowActiveTimeout", "u", None), (37, "flowIdleTimeout", "u", None), (38, "engineType", "u", None),
    (39, "engineId", "u", None), (40, "exportedOctetTotalCount", "u", None),
    (41, "exportedMessageTotalCount", "u", None), (42, "exportedFlowRecordTotalCount", "u", None),
    (44, "sourceIPv4Prefix", "ip4", None), (45, "destinationIPv4Prefix", "ip4", None),
    (46, "mplsTopLabelType", "u", None), (47, "mplsTopLabelIPv4Address", "ip4", None),
    (48, "samplerId", "u", None), (49, "samplerMode", "u", None), (50, "samplerRandomInterval", "u", "sampling"),
    (52, "minimumTTL", "u", None), (53, "maximumTTL", "u", None), (54, "fragmentIdentification", "u", None),
    (55, "postIpClassOfService", "u", None), (56, "sourceMacAddress", "mac", None),
    (57, "postDestinationMacAddress", "mac", None), (58, "vlanId", "u", None), (59, "postVlanId", "u", None),
    (60, "ipVersion", "u", None), (61, "flowDirection", "u", None), (62, "ipNextHopIPv6Address", "ip6", None),
    (63, "bgpNextHopIPv6Address", "ip6", None), (64, "ipv6ExtensionHeaders", "u", None),
    *((69 + i, f"mplsLabelStackSection{i}", "hex", None) for i in range(1, 11)),
    (80, "destinationMacAddress", "mac", None), (81, "postSourceMacAddress", "mac", None),
    (82, "interfaceName", "str", None), (83, "interfaceDescription", "str", None),
    (85, "octetTotalCount", "u", "src_bytes"), (86, "packetTotalCount", "u", "src_pkts"),
    (88, "fragmentOffset", "u", None), (89, "forwardingStatus", "u", None),
    (90, "mplsVpnRouteDistinguisher", "hex", None), (94, "applicationDescription", "str", None),
    (95, "applicationId", "hex", None), (96, "applicationName", "str", None),
    (98, "postIpDiffServCodePoint", "u", None), (128, "bgpNextAdjacentAsNumber", "u", None),
    (129, "bgpPrevAdjacentAsNumber", "u", None), (130, "exporterIPv4Address", "ip4", None),
    (131, "exporterIPv6Address", "ip6", None), (136, "flowEndReason", "u", None),
    (137, "commonPropertiesId", "u", None), (138, "observationPointId", "u", None),
    (139, "icmpTypeCodeIPv6", "u", None), (140, "mplsTopLabelIPv6Address", "ip6", None),
    (141, "lineCardId", "u", None), (142, "portId", "u", None), (143, "meteringProcessId", "u", None),
    (144, "exportingProcessId", "u", None), (145, "templateId", "u", None), (148, "flowId", "u", None),
    (149, "observationDomainId", "u", None),
    (150, "flowStartSeconds", "ts_s", "start"), (151, "flowEndSeconds", "ts_s", "end"),
    (152, "flowStartMilliseconds", "ts_ms", "start"), (153, "flowEndMilliseconds", "ts_ms", "end"),
    (154, "flowStartMicroseconds", "ts_us", "start"), (155, "flowEndMicroseconds", "ts_us", "end"),
    (156, "flowStartNanoseconds", "ts_ns", "start"), (157, "flowEndNanoseconds", "ts_ns", "end"),
    (158, "flowStartDeltaMicroseconds", "u", "start_delta"), (159, "flowEndDeltaMicroseconds", "u", "end_delta"),
    (160, "systemInitTimeMilliseconds", "ts_ms", "sys_init"),
    (161, "flowDurationMilliseconds", "u", "duration_ms"), (162, "flowDurationMicroseconds", "u", "duration_us"),
    (176, "icmpTypeIPv4", "u", None), (177, "icmpCodeIPv4", "u", None), (178, "icmpTypeIPv6", "u", None),
    (179, "icmpCodeIPv6", "u", None), (180, "udpSourcePort", "u", None), (181, "udpDestinationPort", "u", None),
    (182, "tcpSourcePort", "u", None), (183, "tcpDestinationPort", "u", None),
    (184, "tcpSequenceNumber", "u", None), (185, "tcpAcknowledgementNumber", "u", None),
    (186, "tcpWindowSize", "u", None), (192, "ipTTL", "u", None), (195, "ipDiffServCodePoint", "u", None),
    (196, "ipPrecedence", "u", None), (197, "fragmentFlags", "u", None), (205, "udpMessageLength", "u", None),
    (206, "isMulticast", "u", None), (210, "paddingOctets", "skip", None), (224, "ipTotalLength", "u", None),
    (225, "postNATSourceIPv4Address", "ip4", None), (226, "postNATDestinationIPv4Address", "ip4", None),
    (227, "postNAPTSourceTransportPort", "u", None), (228, "postNAPTDestinationTransportPort", "u", None),
    (230, "natEvent", "u", None), (231, "initiatorOctets", "u", "src_bytes"),
    (232, "responderOctets", "u", "dst_bytes"), (233, "firewallEvent", "u", None),
    (234, "ingressVRFID", "u", None), (235, "egressVRFID", "u", None), (236, "VRFname", "str", None),
    (239, "biflowDirection", "u", None), (243, "dot1qVlanId", "u", None), (244, "dot1qPriority", "u", None),
    (256, "ethernetType", "u", None), (281, "postNATSourceIPv6Address", "ip6", None),
    (282, "postNATDestinationIPv6Address", "ip6", None), (298, "initiatorPackets", "u", "src_pkts"),
    (299, "responderPackets", "u", "dst_pkts"), (302, "selectorId", "u", None),
    (304, "selectorAlgorithm", "u", None), (305, "samplingPacketInterval", "u", "sampling"),
    (306, "samplingPacketSpace", "u", None), (322, "observationTimeSeconds", "ts_s", None),
    (323, "observationTimeMilliseconds", "ts_ms", None), (324, "observationTimeMicroseconds", "ts_us", None),
    (325, "observationTimeNanoseconds", "ts_ns", None), (346, "privateEnterpriseNumber", "u", None),
    (352, "layer2OctetDeltaCount", "u", None), (353, "layer2OctetTotalCount", "u", None),
)

_SHORT = {5: "tos", 6: "tcp_flags", 9: "src_mask", 10: "input_if", 13: "dst_mask", 14: "output_if",
          15: "next_hop", 16: "src_as", 17: "dst_as", 58: "vlan"}

#: roles filled from the first element present, in this order
ROLE_PRIORITY: dict[str, tuple[int, ...]] = {
    "src_bytes": (1, 85, 231), "src_pkts": (2, 86, 298), "dst_bytes": (232,), "dst_pkts": (299,),
    "src_ip": (8, 27), "dst_ip": (12, 28), "start": (152, 154, 156, 150), "end": (153, 155, 157, 151),
}

#: reverse (RFC 5103) elements that fill the responder's columns of a biflow
REVERSE_ROLES = {1: "dst_bytes", 85: "dst_bytes", 2: "dst_pkts", 86: "dst_pkts"}
REVERSE_PRIORITY = {"dst_bytes": (1, 85), "dst_pkts": (2, 86)}

PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp"}


def snake(name: str) -> str:
    """``octetDeltaCount`` -> ``octet_delta_count`` (runs of capitals stay together: ``VRFname`` -> ``vrfname``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


ELEMENTS: dict[int, Element] = {
    eid: Element(eid, name, kind, role, _SHORT.get(eid) or snake(name)) for eid, name, kind, role in _ELEMENTS
}


def element(eid: int, pen: int = 0) -> Element:
    """The element with IANA id ``eid`` (``pen`` = 0) or an enterprise-specific one, named and typed.

    Reverse elements (PEN 29305) take the forward element's kind with a ``reverse_`` key and fill the
    responder columns for octets and packets; other enterprise elements are unknown to us.
    """
    if pen == 0 and eid in ELEMENTS:
        return ELEMENTS[eid]
    if pen == REVERSE_PEN and eid in ELEMENTS:
        forward = ELEMENTS[eid]
        name = "reverse" + forward.name[0].upper() + forward.name[1:]
        return Element(eid, name, forward.kind, REVERSE_ROLES.get(eid), "reverse_" + forward.key)
    name = f"e{pen}_f{eid}" if pen else f"f{eid}"
    return Element(eid, name, "u", None, name)

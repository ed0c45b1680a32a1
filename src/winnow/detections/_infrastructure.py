"""Network housekeeping: one table of infrastructure services and addresses, read by every detector.

Periodic or failing traffic that networks make by design — DHCP renewals, NTP polls, SSDP/mDNS/
LLMNR/NetBIOS discovery, WS-Discovery — is not an attack, and traffic to addresses that are never
an external peer (broadcast, multicast, link-local, loopback, unspecified) is never command and
control. Two settings describe it (see :mod:`winnow.config.table`):

- ``infrastructure.services``: ``"proto/port" -> weight``; a detector multiplies the score of a
  finding about such a service by its weight and says so (component ``service``).
- ``infrastructure.addresses``: destinations that are housekeeping by nature; detectors leave
  them out (beacon, long_conn, scan, fumbling) or weight them like a service.
- ``infrastructure.background``: the weight of the internet's background scanning, what outside
  sources do to internal hosts without being answered (scan, fumbling; component ``background``).
- ``infrastructure.vendor_services``: registered domains of OS, browser, anti-virus, certificate and
  sync services that call home on a schedule from every workstation; a channel named by one is
  weighted by ``infrastructure.vendor_weight`` (beacon, long_conn; component ``vendor``).

Both are Ibis expressions (DuckDB and Spark) with Python twins for explanations and tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from winnow.detections._networks import in_networks, in_networks_py

if TYPE_CHECKING:
    import ibis.expr.types as ir

SERVICES = "infrastructure.services"
ADDRESSES = "infrastructure.addresses"

#: names of well-known infrastructure services, for the sentence a person reads
NAMES = {
    "udp/53": "DNS", "tcp/53": "DNS", "udp/67": "DHCP", "udp/68": "DHCP", "udp/123": "NTP",
    "udp/137": "NetBIOS name service", "udp/138": "NetBIOS datagrams", "udp/161": "SNMP",
    "udp/1900": "SSDP", "udp/3702": "WS-Discovery", "udp/5353": "mDNS", "udp/5355": "LLMNR",
    "udp/546": "DHCPv6", "udp/547": "DHCPv6", "udp/514": "syslog",
}


def services() -> dict[str, float]:
    """The ``infrastructure.services`` setting in force: ``{"udp/123": 0.5, ...}``."""
    from winnow.config import current

    return {k.lower(): float(v) for k, v in dict(current().get(SERVICES)).items()}


def addresses() -> tuple[str, ...]:
    """The ``infrastructure.addresses`` setting in force (networks)."""
    from winnow.config import current

    return tuple(current().get(ADDRESSES))


def service_key(proto: str | None, port: int | float | None) -> str:
    """``"udp/123"`` for a protocol and port ('' when either is missing)."""
    if not proto or port is None or port != port:  # NaN: a flow without ports
        return ""
    return f"{str(proto).lower()}/{int(port)}"


def service_weight_py(proto: str | None, port: int | float | None) -> float:
    """The weight of a service (1.0 when it is not infrastructure)."""
    return services().get(service_key(proto, port), 1.0)


def service_label(proto: str | None, port: int | float | None) -> str:
    """A readable name of an infrastructure service: ``"NTP (udp/123)"``; '' when it is not one."""
    key = service_key(proto, port)
    if key not in services():
        return ""
    return f"{NAMES[key]} ({key})" if key in NAMES else key


def service_weight(proto: ir.StringValue, port: ir.IntegerValue) -> ir.FloatingValue:
    """Ibis expression: the weight of the service of (``proto``, ``port``), 1.0 when not listed."""
    import ibis

    table = services()
    if not table:
        return ibis.literal(1.0)
    key = proto.lower().concat("/", port.cast("int64").cast("string"))
    cases = [(key == k, ibis.literal(w)) for k, w in sorted(table.items())]
    return ibis.cases(*cases, else_=ibis.literal(1.0))


def is_housekeeping_address(ip: ir.StringValue) -> ir.BooleanValue:
    """Ibis expression: ``ip`` is broadcast, multicast, link-local, loopback or unspecified (the setting)."""
    return in_networks(ip, addresses()).fill_null(False)


def is_housekeeping_address_py(ip: str | None) -> bool:
    """The same test in Python."""
    return bool(ip) and in_networks_py(ip, addresses())


# -- service-discovery names ------------------------------------------------------------------
#: a DNS name is a service-discovery name when one of its labels starts with '_' (RFC 6763 DNS-SD
#: ``_https._tcp.example.com``, AD's ``_ldap._tcp.dc._msdcs.corp``, RFC 8552 underscored names): clients
#: ask for them to learn whether a service exists, so NXDOMAIN is a normal answer. Reverse lookups
#: (``4.3.2.1.in-addr.arpa``, ``ip6.arpa``) are weighted alike: servers ask them of every client (sshd's
#: UseDNS, loggers) and most addresses on the internet have no PTR record
SERVICE_NAMES = "infrastructure.service_names"


def service_name_weight_value() -> float:
    """The ``infrastructure.service_names`` weight in force."""
    from winnow.config import current

    return float(current().get(SERVICE_NAMES))


def service_name_weight(name: ir.StringValue) -> ir.FloatingValue:
    """Ibis expression: the weight of a looked-up ``name`` (lower case): the setting for a DNS-SD name, else 1."""
    import ibis

    sd = name.startswith("_") | name.contains("._") | name.endswith(".in-addr.arpa") | name.endswith(".ip6.arpa")
    return ibis.ifelse(sd.fill_null(False), ibis.literal(service_name_weight_value()), ibis.literal(1.0))


def service_name_weight_py(name: str | None) -> float:
    """The same weight in Python."""
    sd = bool(name) and (name.startswith("_") or "._" in name or name.endswith((".in-addr.arpa", ".ip6.arpa")))
    return service_name_weight_value() if sd else 1.0


# -- the internet's background ----------------------------------------------------------------
BACKGROUND = "infrastructure.background"


def background_weight(unanswered_share: float = 1.0) -> float:
    """The weight of an outside source's activity against internal hosts, ``unanswered_share`` of it unanswered.

    1 - (1 - w) * share: all unanswered weighs ``infrastructure.background``, all answered weighs 1.
    """
    from winnow.config import current

    weight = float(current().get(BACKGROUND))
    return 1.0 - (1.0 - weight) * min(1.0, max(0.0, unanswered_share))


# -- vendor services ----------------------------------------------------------------------------
VENDOR_SERVICES = "infrastructure.vendor_services"
VENDOR_WEIGHT = "infrastructure.vendor_weight"


def vendor_service(name: str | None) -> str | None:
    """The listed vendor domain ``name`` is or lies under (``i4.c.eset.com`` -> ``eset.com``), else None."""
    from winnow.config import current

    if not name:
        return None
    name = name.strip().lower().rstrip(".")
    for domain in current().get(VENDOR_SERVICES):
        domain = domain.strip().lower().lstrip(".")
        if domain and (name == domain or name.endswith("." + domain)):
            return domain
    return None


def vendor_weight(name: str | None) -> tuple[float, str | None]:
    """(weight, matched vendor domain) of a channel named ``name``: (1.0, None) when not listed."""
    from winnow.config import current

    domain = vendor_service(name)
    return (float(current().get(VENDOR_WEIGHT)), domain) if domain else (1.0, None)

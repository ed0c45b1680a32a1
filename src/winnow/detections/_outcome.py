"""Did a connection get an answer? Shared by the scan and fumbling detectors.

A connection is *answered* when the responder took part: the TCP handshake completed (SF, S1,
S2, S3; RSTO/RSTR when the history shows the responder's SYN-ACK ``h`` or it sent data), or, for
the states that say nothing about a handshake (OTH, SH, SHR), when the responder sent payload.
Flows without a Zeek state (NetFlow, Argus) are answered when the responder sent anything.
Everything else (S0, REJ, RSTOS0, RSTRH, SH/SHR/OTH without data) is a failure. A record
``_orient`` turned round (column ``flipped``) was written from the responder's side: it answered.

Only exchanges the originator *initiated* are judged: unicast destinations (multicast and
broadcast never answer) and, for ICMP, request types (echo, timestamp...). Zeek logs an ICMP
unreachable or a neighbour advertisement as a connection of its sender, which no one answers.

A *login-like* connection was answered but is the shape of one failed authentication: a short,
small TCP session to a login service (SSH, RDP, databases...). One means nothing; hundreds from
one source to one service are a brute force that the flow log alone can show.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

ESTABLISHED = ("SF", "S1", "S2", "S3")
RESET = ("RSTO", "RSTR")
UNCLEAR = ("OTH", "SH", "SHR")

#: TCP ports one logs in to: ftp, ssh, telnet, pop3, imap(s), pop3s, mssql, mysql, rdp, postgres, vnc, winrm
LOGIN_PORTS = (21, 22, 23, 110, 143, 993, 995, 1433, 3306, 3389, 5432, 5900, 5985, 5986)

#: UDP ports of request/response services, where no reply is a failure (one-way UDP such as syslog
#: or NetFlow export never gets one, so other UDP ports are left out of the fumbling count)
UDP_REQUEST_PORTS = (53, 88, 123, 161, 389, 443, 500, 4500)

#: ICMP types (Zeek's orig_p) that expect a reply: echo, timestamp, information, address mask; ICMPv6 echo
ICMP_REQUESTS = (8, 13, 15, 17, 128)
_MULTICAST4 = tuple(f"{octet}." for octet in range(224, 240))


def initiated(conn: ir.Table) -> ir.BooleanValue:
    """Rows worth judging: a unicast destination and, for ICMP, a request type."""
    dst = conn.dst_ip
    multicast = dst.startswith("ff") | dst.startswith("FF") | dst.substr(0, 4).isin(_MULTICAST4)
    broadcast = dst.endswith(".255")
    icmp_ok = (conn.proto != "icmp") | conn.src_port.isin(ICMP_REQUESTS)
    return (~multicast & ~broadcast & icmp_ok.fill_null(True)).fill_null(True)


def answered(conn: ir.Table) -> ir.BooleanValue:
    """True when the responder answered the connection (see the module docstring)."""
    state = conn.conn_state
    data_back = conn.dst_bytes.fill_null(0) > 0
    turned = [(conn.flipped, True)] if "flipped" in conn.columns else []
    return ibis.cases(
        (state == "SF", True),  # the common case first: engines stop at the first match
        *turned,
        (state.isin(ESTABLISHED), True),
        (state.isin(RESET), conn.history.fill_null("h").contains("h") | data_back),
        (state.isin(UNCLEAR), data_back),
        (state.isnull(), data_back | (conn.dst_pkts.fill_null(0) > 0)),
        else_=False,
    )


def login_like(ok: ir.BooleanValue, proto: ir.StringValue, dport: ir.IntegerValue, duration: ir.FloatingValue,
               moved: ir.IntegerValue, max_seconds: float, max_bytes: int) -> ir.BooleanValue:
    """Answered (``ok``) TCP sessions to a login port, at most ``max_seconds`` long and ``max_bytes`` big."""
    return ok & (proto == "tcp") & dport.isin(LOGIN_PORTS) & (duration <= max_seconds) & (moved <= max_bytes)


def counts_as_failure(ok: ir.BooleanValue, proto: ir.StringValue, dport: ir.IntegerValue) -> ir.BooleanValue:
    """Unanswered TCP/ICMP connections, and unanswered UDP to request/response services."""
    return ~ok & ((proto != "udp") | dport.isin(UDP_REQUEST_PORTS))


def as_int(flag: ir.BooleanValue) -> ir.IntegerValue:
    """1 for true, 0 for false (sums of it are exact on every engine)."""
    return ibis.ifelse(flag, 1, 0).cast("int64")

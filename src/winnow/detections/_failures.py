"""Failed attempts, one shape for every source, so fumbling can stack them across sources.

A *failure source* turns one lake table into attempt rows with the columns of :data:`COLUMNS`:
who tried (``src``), what it tried to reach (``target``: an address or a DNS name, with
``dport``/``proto`` where they apply), when, whether the attempt failed (``failed``) and, if it
failed only by its shape, ``soft``; ``local_src``/``local_dst`` carry the sensor's view of the
two ends when it has one (null otherwise: ``networks.internal`` then decides, see ``_networks``).
Adding a source (failed logons from ``auth.logon`` is one) means one more function and one more
entry in :data:`SOURCES`; the detector unions them.

Each source also names the *group* whose fleet prevalence damps a failure (the destination
address; for DNS the registered domain, so that a search suffix or WPAD failing everywhere is
recognised as noise), which failed targets may count towards a host's *spread* of failures, and
the *weight* of a failure (``_infrastructure``: housekeeping services such as NTP or DHCP, and
service-discovery names, weigh less). Destinations that are housekeeping addresses (broadcast,
multicast, link-local...) are left out of connections and lookups alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from winnow.detections._domains import normalized_name, registered_domain
from winnow.detections._infrastructure import is_housekeeping_address, service_name_weight, service_weight
from winnow.detections._outcome import answered, as_int, counts_as_failure, initiated, login_like

#: attempt rows: ts, src, target, dport (-1 when none), proto, failed and soft (0/1), local_src, local_dst
COLUMNS = ("ts", "src", "target", "dport", "proto", "failed", "soft", "local_src", "local_dst")



@dataclass(frozen=True)
class FailureSource:
    """How one lake table yields attempts; see the module docstring."""

    name: str
    table: str
    src_column: str
    attempts: Callable[[ir.Table, dict], ir.Table]
    group: Callable[[ir.StringValue], ir.StringValue]
    spreadable: Callable[[ir.StringValue], ir.BooleanValue]
    weight: Callable[[ir.Table], ir.FloatingValue]


def conn_attempts(conn: ir.Table, params: dict) -> ir.Table:
    """Connections (oriented, ``_orient``): failed when unanswered (``_outcome.counts_as_failure``) or login-like."""
    rows = conn.filter(conn.src_ip.notnull() & conn.dst_ip.notnull() & initiated(conn)
                       & ~is_housekeeping_address(conn.dst_ip))
    # two steps, so that the answered test is computed once per row
    base = rows.select(
        "ts",
        src=rows.src_ip,
        target=rows.dst_ip,
        dport=rows.dst_port.fill_null(-1).cast("int32"),
        proto=rows.proto.fill_null("?"),
        ok=answered(rows),
        duration=rows.duration.fill_null(0.0),
        moved=rows.src_bytes.fill_null(0) + rows.dst_bytes.fill_null(0),
        local_src=rows.local_orig,
        local_dst=rows.local_resp,
    )
    soft = login_like(base.ok, base.proto, base.dport, base.duration, base.moved,
                      params["login_max_seconds"], params["login_max_bytes"])
    return base.select(
        "ts", "src", "target", "dport", "proto",
        failed=as_int(counts_as_failure(base.ok, base.proto, base.dport) | soft),
        soft=as_int(soft),
        local_src=base.local_src,
        local_dst=base.local_dst,
    )


def dns_attempts(dns: ir.Table, params: dict) -> ir.Table:
    """DNS lookups: failed when the answer was NXDOMAIN. The resolver is never a campaign target."""
    rows = dns.filter(dns.src_ip.notnull() & dns.query.notnull() & ~is_housekeeping_address(dns.dst_ip))
    nx = (rows.rcode_name == "NXDOMAIN") | (rows.rcode == 3)
    return rows.select(
        "ts",
        src=rows.src_ip,
        target=rows.query.lower(),
        dport=ibis.literal(-1, "int32"),
        proto=ibis.literal("dns"),
        failed=as_int(nx.fill_null(False)),
        soft=ibis.literal(0, "int64"),
        local_src=ibis.null("boolean"),
        local_dst=ibis.literal(False),
    )


#: auth.logon actions that are attempts to log on (logoffs, session and privilege records are not)
LOGON_ACTIONS = ("logon", "explicit_credentials", "credential_validation", "tgt_request", "service_ticket")


def logon_attempt_rows(auth: ir.Table) -> ir.Table:
    """The ``auth.logon`` rows that are logon attempts with a source address and a known outcome, each counted once.

    Rows that echo an attempt already counted (PAM's repeat of an sshd failure: ``attempts`` = 0)
    and rows with an unknown outcome are left out. Shared by fumbling and the Linux logon detector.
    """
    return auth.filter(auth.src_ip.notnull() & auth.outcome.isin(("success", "failure"))
                       & auth.action.isin(LOGON_ACTIONS) & (auth.attempts.isnull() | (auth.attempts > 0)))


def auth_attempts(auth: ir.Table, params: dict) -> ir.Table:
    """Logons with a source address (sshd, Zeek ssh, Windows network logons): failed when the outcome says so.

    Rows are :func:`logon_attempt_rows`. The target is the server address, else the host.
    """
    rows = logon_attempt_rows(auth)
    return rows.select(
        "ts",
        src=rows.src_ip,
        target=ibis.coalesce(rows.dst_ip, rows.host),
        dport=rows.dst_port.fill_null(-1).cast("int32"),
        proto=ibis.literal("logon"),
        failed=as_int(rows.outcome == "failure"),
        soft=ibis.literal(0, "int64"),
        local_src=ibis.null("boolean"),
        local_dst=ibis.null("boolean"),
    )


def _name_spreadable(name: ir.StringValue) -> ir.BooleanValue:
    """Dotted names only: single labels (Chromium's intranet probes, WPAD) and reverse lookups are noise."""
    return name.contains(".") & ~name.endswith(".arpa") & ~name.endswith(".local")


SOURCES: dict[str, FailureSource] = {
    "conn": FailureSource(
        "conn", "net.conn", "src_ip", conn_attempts,
        group=lambda t: t, spreadable=lambda t: ibis.literal(True),
        weight=lambda r: service_weight(r.proto, r.dport),
    ),
    "dns": FailureSource(
        "dns", "net.dns", "src_ip", dns_attempts, group=lambda t: registered_domain(normalized_name(t)),
        spreadable=_name_spreadable, weight=lambda r: service_name_weight(r.target),
    ),
    "auth": FailureSource(
        "auth", "auth.logon", "src_ip", auth_attempts, group=lambda t: t, spreadable=lambda t: ibis.literal(True),
        weight=lambda r: ibis.literal(1.0),
    ),
}

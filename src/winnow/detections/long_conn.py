"""Long connections: pairs that hold connections open for hours (C2 sessions, tunnels, exfil).

Per (src, dst, dport, proto) over the window: the longest single connection and the total
connected time. Connections that never closed count with the latest snapshot Zeek's
``open_conn`` log (table ``net.open_conn``) has of them. A pair is reported when either
reaches ``min_duration``. The score grows with the log of that duration (``min_duration`` -> 0,
``full_duration`` -> 1) and is damped when many internal hosts hold long connections to the
same destination (VPN gateways, chat services), so a one-off session to a rare destination
ranks first. Internal is ``_networks.is_internal`` (the sensor's flags, else
``networks.internal``); a pair whose source is outside is compared with the other outside
sources holding long connections to the destination (remote workers on a VPN concentrator)
instead.

Every record is counted from the side that opened it (``_orient``: responder-side Zeek records are
turned round). Destinations that are housekeeping addresses (broadcast, multicast, link-local...)
are left out, and a pair on an infrastructure service (``infrastructure.services``) has its score
multiplied by the service's weight (component ``service``), which the ``why`` says.
"""

from __future__ import annotations

import math
from typing import ClassVar

import ibis

from winnow.detections._infrastructure import (
    is_housekeeping_address,
    service_label,
    service_weight_py,
    vendor_weight,
)
from winnow.detections._networks import is_internal, local_flags
from winnow.detections._orient import oriented
from winnow.detections._vendor_names import vendor_names
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render


@register
class LongConnections(Detector):
    """Args:
    min_duration: seconds of connection (longest single, or total per pair) to report a pair.
    full_duration: seconds at which the duration sub-score reaches 1.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "long_conn"
    description: ClassVar[str] = "long-lived connections and pairs with hours of total connected time"
    tables: ClassVar[tuple[str, ...]] = ("net.conn",)
    optional_tables: ClassVar[tuple[str, ...]] = ("net.open_conn",)

    def __init__(self, min_duration: float = 3600.0, full_duration: float = 86400.0, limit: int = 500) -> None:
        self.min_duration = min_duration
        self.full_duration = full_duration
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        conn = engine.table("net.conn", window)
        if conn is None:
            return []
        timed = self._with_open(engine, window, conn)
        # NaN durations (some NetFlow v9 exporters) are unknown, like nulls
        timed = timed.filter(timed.duration.notnull() & ~timed.duration.isnan() & timed.src_ip.notnull()
                             & timed.dst_ip.notnull() & ~is_housekeeping_address(timed.dst_ip))
        pairs = timed.group_by(["src_ip", "dst_ip", "dst_port", "proto"]).aggregate(
            local_orig=timed.local_orig.any(),
            still_open=timed.still_open.sum(),
            connections=timed.count(),
            total_duration=timed.duration.sum(),
            max_duration=timed.duration.max(),
            src_bytes=timed.src_bytes.sum(),
            dst_bytes=timed.dst_bytes.sum(),
            first_seen=timed.ts.min(),
            last_seen=timed.ts.max(),
            service=timed.service.max(),
        )
        long_pairs = pairs.filter(
            (pairs.max_duration >= self.min_duration) | (pairs.total_duration >= self.min_duration)
        )
        long_pairs = long_pairs.mutate(src_internal=is_internal(long_pairs.src_ip, long_pairs.local_orig))
        none = ibis.null("string")
        prevalence = long_pairs.group_by("dst_ip").aggregate(
            hosts_long_to_dst=long_pairs.src_internal.ifelse(long_pairs.src_ip, none).nunique(),
            outside_long_to_dst=long_pairs.src_internal.ifelse(none, long_pairs.src_ip).nunique(),
        )
        rows = long_pairs.join(prevalence, "dst_ip").order_by(
            [ibis.desc("total_duration"), "src_ip", "dst_ip", "dst_port", "proto"]
        )
        table = fetch(rows)
        vendors = vendor_names(engine, window)
        findings = [self._finding(r, vendors.lookup(r["dst_ip"])) for r in table.to_pylist()]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    @staticmethod
    def _with_open(engine: Engine, window: Window, conn):
        """Closed connections plus the latest snapshot of each connection that never closed (Zeek open_conn).

        ``local_orig`` is the sensor's flag where it can be believed (``_networks.local_flags``), else null;
        every record is oriented (``_orient``).
        """
        columns = ["uid", "src_ip", "dst_ip", "dst_port", "proto", "ts", "duration", "src_bytes", "dst_bytes",
                   "service", "local_orig"]
        snapshots = engine.table("net.open_conn", window)
        flags = local_flags(conn, snapshots)
        closed = oriented(conn, flags).select(*columns).mutate(still_open=ibis.literal(0, "int64"))
        if snapshots is None:
            return closed
        snapshots = oriented(snapshots, flags)
        latest = snapshots.filter(snapshots.uid.notnull()).group_by(
            ["uid", "src_ip", "dst_ip", "dst_port", "proto"]
        ).aggregate(
            ts=snapshots.ts.min(), duration=snapshots.duration.max(), src_bytes=snapshots.src_bytes.max(),
            dst_bytes=snapshots.dst_bytes.max(), service=snapshots.service.max(),
            local_orig=snapshots.local_orig.any(),
        )
        latest = latest.anti_join(conn.filter(conn.uid.notnull()).select("uid"), "uid")
        return closed.union(latest.select(*columns).mutate(still_open=ibis.literal(1, "int64")))

    def _finding(self, r: dict, vendor: tuple[str, str] | None = None) -> Finding:
        longest, total = round(r["max_duration"], 3), round(r["total_duration"], 3)
        span = max(longest, total)
        scale = math.log(self.full_duration / self.min_duration)
        duration_score = min(1.0, max(0.0, math.log(max(span, self.min_duration) / self.min_duration) / scale))
        hosts, outside = int(r["hosts_long_to_dst"]), int(r["outside_long_to_dst"])
        internal = bool(r["src_internal"])
        peers = hosts if internal else outside  # the pair counts itself among them
        rarity = 1.0 / (1.0 + math.log2(max(peers, 1)))
        dport = r["dst_port"]
        proto = r["proto"] or "?"
        service = service_weight_py(proto, dport)
        known, _ = vendor_weight(vendor[0]) if vendor else (1.0, None)
        score = min(1.0, 0.3 + 0.7 * duration_score) * (0.6 + 0.4 * rarity) * service * known
        evidence = {
            "connections": r["connections"], "longest_s": longest, "total_duration_s": total,
            "src_bytes": r["src_bytes"], "dst_bytes": r["dst_bytes"], "service": r["service"],
            "proto": proto, "src_internal": internal, "hosts_long_to_dst": hosts,
            "outside_sources_long_to_dst": outside, "still_open": r["still_open"], "service_weight": service,
            "vendor_service": vendor[0] if vendor else None,
        }
        if internal:
            others = ("no other internal host holds long connections to it" if hosts <= 1
                      else f"{hosts} internal hosts hold long connections to it")
        else:
            others = (f"{r['src_ip']} is outside the internal networks; "
                      + ("no other outside source" if outside <= 1 else f"{outside} outside sources")
                      + (" holds" if outside <= 1 else " hold") + " long connections to it"
                      + (f", and {hosts} internal host{'s' if hosts > 1 else ''}" if hosts else ""))
        why = (
            f"{r['src_ip']} was connected to {r['dst_ip']}:{dport}/{proto} for {render.duration(total)} in total "
            f"over {r['connections']} connection(s)"
            + (f" ({r['still_open']} never closed)" if r["still_open"] else "")
            + f", longest {render.duration(longest)}, "
            f"{render.size((r['src_bytes'] or 0) + (r['dst_bytes'] or 0))} moved; "
            + others
            + (f"; {service_label(proto, dport)} is network housekeeping (weight {service:g})" if service < 1 else "")
            + (f"; {r['dst_ip']} is {vendor[0]}'s ({vendor[1]}), a listed vendor service "
               f"(infrastructure.vendor_services, weight {known:g})" if vendor else "")
        )
        return Finding(
            detector=self.name, score=score, entity=f"{r['src_ip']}->{r['dst_ip']}:{dport}/{proto}",
            src=r["src_ip"], dst=r["dst_ip"], dport=dport, first_seen=r["first_seen"], last_seen=r["last_seen"],
            components={"duration": duration_score, "rarity": rarity, "service": service,
                        **({"vendor": known} if vendor else {})}, evidence=evidence,
            why=why,
        )

"""What the lake knows about entities (internal addresses, address → host), and risk over a lake's findings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from winnow.engine import Engine, fetch
from winnow.risk.combine import EntityRisk, RiskSettings, entity_risk
from winnow.risk.entities import Resolver, host_name


def resolver_for(engine: Engine) -> Resolver:
    """Internal test as the detectors apply it, and the hosts behind internal addresses from ``proc.net``."""
    from winnow.detections._networks import Verdicts, internal_networks, is_internal_py, sensor_verdicts

    internal_networks()  # a bad networks.internal is a user error here as in every detector
    conn = engine.table("net.conn")
    verdicts = sensor_verdicts(conn) if conn is not None else Verdicts()

    def internal(address: str) -> bool:
        return is_internal_py(address, None, verdicts)

    resolver = Resolver(internal)
    net = engine.table("proc.net")
    if net is not None:
        rows = net.filter(net.src_ip.notnull() & net.host.notnull() & (net.direction == "outbound"))
        per = rows.group_by(["src_ip", "host"]).aggregate(n=rows.count())
        for row in sorted(fetch(per).to_pylist(), key=lambda r: (-r["n"], r["src_ip"], r["host"])):
            name = host_name(row["host"])
            if name and internal(row["src_ip"]):
                resolver.ip_hosts.setdefault(row["src_ip"], name)
    return resolver


def parse_window(text: str | None) -> dt.timedelta | None:
    """``7d``, ``36h``, ``90m`` or ``all``/empty (no limit)."""
    from winnow.errors import WinnowError

    if not text or text.strip().lower() == "all":
        return None
    text = text.strip().lower()
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        return dt.timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError):
        raise WinnowError(f"window {text!r}: write it as 7d, 36h, 90m or all") from None


def lake_risk(engine: Engine, findings: list[dict[str, Any]], window: str | None = None,
              until: dt.datetime | None = None, settings: RiskSettings | None = None) -> list[EntityRisk]:
    """Entity risk over the findings of ``engine``'s lake whose last sighting falls in the window.

    The window ends at ``until`` (default: the newest finding's last sighting) and reaches back
    ``window`` (``risk.window`` by default); age decay is measured from its end.
    """
    from winnow.config import current

    span = parse_window(window if window is not None else current().get("risk.window"))
    stamps = [f["last_seen"] for f in findings if f.get("last_seen")]
    end = until or (dt.datetime.fromisoformat(max(stamps).replace("Z", "+00:00")) if stamps else None)
    if end is not None:
        start = end - span if span else None
        findings = [f for f in findings if _inside(f.get("last_seen") or f.get("first_seen"), start, end)]
    return entity_risk(findings, resolver_for(engine), settings or RiskSettings.current(), end)


def _inside(stamp: str | None, start: dt.datetime | None, end: dt.datetime) -> bool:
    if stamp is None:
        return True
    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (start is None or when >= start) and when <= end

"""Everything the entity page shows, gathered from the library: risk, findings, timeline, processes, graph,
profiles."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

from winnow.web.mentions import subject_of
from winnow.web.profile_bands import bands
from winnow.web.timeline import neighbours, timeline


def guess_type(value: str, internal: Any) -> str:
    """An entity not in the risk table: an address is ip or external, ``host:image`` a process, else a host."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "process" if ":" in value else "host"
    return "ip" if internal(value) else "external"


def entity_data(lake: Path, value: str, entity_type: str | None = None) -> dict[str, Any]:
    """The entity page's data (see the module docstring)."""
    from winnow.config import current
    from winnow.detections._networks import in_networks_py, internal_networks
    from winnow.engine import connect
    from winnow.triage.queue import risk_of, risk_scores

    settings = current()
    cidrs = internal_networks()

    def internal(address: str) -> bool:
        return in_networks_py(address, cidrs)

    risk = risk_of(lake, value, entity_type)
    kind = risk["entity_type"] if risk else (entity_type or guess_type(value, internal))
    name = risk["entity"] if risk else value
    window = _window(risk, settings.get("web.timeline_padding_hours"))
    with connect("duckdb", lake) as engine:
        subject = subject_of(engine, kind, name)
        rows = timeline(engine, subject, window, settings.get("web.timeline_rows"))
        near = neighbours(engine, subject, window, settings.get("web.graph_neighbours"), internal)
        processes = _processes(engine, subject, window)
    scores = risk_scores(lake)
    for node in near:
        node["risk"] = scores.get((node["type"], node["value"].lower()))
    return {"title": f"{kind} {name}", "entity": name, "entity_type": kind, "risk": risk,
            "addresses": subject.addresses, "findings": _findings(lake, risk), "timeline": rows,
            "timeline_limit": settings.get("web.timeline_rows"), "processes": processes,
            "graph": {"center": {"type": kind, "value": name, "risk": risk["score"] if risk else None},
                      "nodes": near},
            "profiles": bands(lake, subject),
            "window": {"since": window.since, "until": window.until} if window else None}


def _window(risk: dict[str, Any] | None, padding_hours: float) -> Any:
    """The entity's findings' time span with ``padding_hours`` either side (None: the whole lake)."""
    from winnow.engine import Window

    if not risk or not risk.get("first_seen") or not risk.get("last_seen"):
        return None
    pad = dt.timedelta(hours=padding_hours)
    first = dt.datetime.fromisoformat(risk["first_seen"].replace("Z", "+00:00"))
    last = dt.datetime.fromisoformat(risk["last_seen"].replace("Z", "+00:00"))
    return Window(first - pad, last + pad)


def _findings(lake: Path, risk: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored findings behind the entity's risk contributions, in contribution order."""
    from winnow.lake import Lake
    from winnow.store import FindingsStore

    if not risk:
        return []
    wanted = [(c["detector"], c["finding"]) for c in risk["contributions"] if c.get("kind") == "finding"]
    if not wanted:
        return []
    with FindingsStore(Lake.open(str(lake)), read_only=True) as store:
        stored = {(f["detector"], f["entity"]): f for f in store.query(detectors=sorted({d for d, _ in wanted}))}
    shares = {(c["detector"], c["finding"]): c["share"] for c in risk["contributions"] if c.get("kind") == "finding"}
    return [{**stored[k], "share": shares[k]} for k in wanted if k in stored]


def _processes(engine: Any, subject: Any, window: Any) -> list[dict[str, Any]] | None:
    """Per-process traffic of a host or process (None when the lake has no endpoint attribution)."""
    from winnow.hunting import process_traffic

    if subject.type not in ("host", "process") or engine.table("net.conn_proc") is None:
        return None
    table = process_traffic(engine, window, limit=200 if subject.type == "process" else 30,
                            host=_lake_host(engine, subject.host))
    rows = table.to_pylist()
    if subject.type == "process":
        rows = [r for r in rows if (r.get("image") or "").lower() == subject.image]
    return rows


def _lake_host(engine: Any, host: str) -> str:
    """The host name as ``net.conn_proc`` spells it (entities are lower case, logs may not be)."""
    from winnow.engine import fetch

    table = engine.table("net.conn_proc")
    names = fetch(table.filter(table.host.lower() == host).select("host").distinct().limit(1)).to_pylist()
    return names[0]["host"] if names else host


"""Everything the entity page shows, gathered from the library: risk, findings, timeline, processes, graph,
profiles."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

from winnow.errors import WinnowError
from winnow.web.mentions import subject_of
from winnow.web.profile_bands import bands
from winnow.web.timeline import gather


def guess_type(value: str, internal: Any) -> str:
    """An entity not in the risk table: an address is ip or external, ``host:image`` a process, else a host."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "process" if ":" in value else "host"
    return "ip" if internal(value) else "external"


def entity_data(engine: Any, lake: Path, value: str, entity_type: str | None = None, since: str | None = None,
                until: str | None = None) -> dict[str, Any]:
    """The entity page's data (see the module docstring), read through ``engine`` (DuckDB over ``lake``)."""
    from winnow.config import current
    from winnow.detections._networks import in_networks_py, internal_networks
    from winnow.triage.queue import risk_of, risk_scores

    settings = current()
    cidrs = internal_networks()

    def internal(address: str) -> bool:
        return in_networks_py(address, cidrs)

    risk = risk_of(lake, value, entity_type)
    kind = risk["entity_type"] if risk else (entity_type or guess_type(value, internal))
    name = risk["entity"] if risk else value
    window = window_of(risk, since, until, settings)
    subject = subject_of(engine, kind, name, window)
    found = gather(engine, subject, window, settings.get("web.timeline_rows"), settings.get("web.graph_neighbours"),
                   internal, settings.get("web.entity_rows"))
    rows, near = found["timeline"], found["neighbours"]
    processes = _processes(engine, subject, window)
    scores = risk_scores(lake)
    for node in near:
        node["risk"] = scores.get((node["type"], node["value"].lower()))
    return {"title": f"{kind} {name}", "entity": name, "entity_type": kind, "risk": risk,
            "addresses": subject.addresses, "findings": _findings(lake, risk), "timeline": rows,
            "timeline_limit": settings.get("web.timeline_rows"), "truncated": found["truncated"],
            "processes": processes,
            "graph": {"center": {"type": kind, "value": name, "risk": risk["score"] if risk else None},
                      "nodes": near},
            "profiles": bands(lake, subject),
            "window": {"since": window.since, "until": window.until} if window else None,
            "span": {"since": risk.get("first_seen"), "until": risk.get("last_seen")} if risk else None}


def window_of(risk: dict[str, Any] | None, since: str | None, until: str | None, settings: Any) -> Any:
    """The span the timeline, graph and processes cover: ``since``/``until`` when given (ISO times), else the
    ``web.timeline_hours`` before the entity's last sighting (plus ``web.timeline_padding_hours`` after it);
    None (the whole lake) for an entity without findings."""
    from winnow.engine import Window

    def parse(text: str) -> dt.datetime:
        try:
            stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise WinnowError(f"{text!r} is not a time: write 2026-11-02T08:00:00Z") from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)

    if since or until:
        return Window(parse(since) if since else None, parse(until) if until else None)
    if not risk or not risk.get("last_seen"):
        return None
    last = parse(risk["last_seen"])
    return Window(last - dt.timedelta(hours=settings.get("web.timeline_hours")),
                  last + dt.timedelta(hours=settings.get("web.timeline_padding_hours")))


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


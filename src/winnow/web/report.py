"""``winnow report``: one self-contained HTML file (inline CSS and SVG, no script, nothing fetched) of the
window's top entities, their findings and charts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from winnow.config import current
from winnow.web.render import environment, plain
from winnow.web.svg import histogram, scatter, share_bars

STYLE = Path(__file__).parent / "static" / "app.css"
BEACON_CHARTS = 5  # beacon findings drawn per report (each reads its pair's connections)
FINDINGS = 12  # findings listed per entity, by their share of its risk


def build_report(lake: Path, window: str | None = None, top: int | None = None) -> str:
    """The report's HTML over ``lake``'s queue (the first ``top`` entities, default ``web.report_entities``)."""
    from winnow.engine import connect
    from winnow.triage.queue import queue, risk_of
    from winnow.web.beacon_data import beacon_data, pair_of

    top = top if top is not None else current().get("web.report_entities")
    rows = queue(Path(lake), window, (), top)
    entities, beacons = [], 0
    with connect("duckdb", Path(lake)) as engine:
        for row in rows:
            risk = risk_of(Path(lake), row["entity"], row["entity_type"], window) or {"contributions": []}
            bars = [(c.get("detector", "") + " " + str(c.get("finding") or c.get("reason") or c.get("kind")),
                     c["share"]) for c in risk["contributions"][:8]]
            charts = []
            for f in row["top_findings"]:  # the top ones, as the queue shows them
                pair = pair_of(f["finding"]) if f["detector"] == "beacon" else None
                if pair is None or beacons >= BEACON_CHARTS:
                    continue
                data = beacon_data(engine, Path(lake), *pair)
                charts.append({"title": data["title"], "estimate": data["estimate"],
                               "histogram": histogram(data["histogram"]["edges"], data["histogram"]["counts"],
                                                      "s between connections"),
                               "sizes": scatter(data["series"]["ts"], data["series"]["src_bytes"],
                                                "bytes sent, over time")})
                beacons += 1
            found = [{"detector": c["detector"], "finding": c["finding"], "score": c["finding_score"],
                      "why": c.get("why"), "share": c["share"]}
                     for c in risk["contributions"] if c.get("kind") == "finding"]
            entities.append({**row, "bars": share_bars(bars), "charts": charts, "all_findings": found[:FINDINGS]})
    env = environment()
    return env.get_template("report.html").render(
        title="Winnow report", lake=str(lake), created=plain(dt.datetime.now(dt.UTC)), entities=entities,
        style=STYLE.read_text(encoding="utf-8"), window=window or current().get("risk.window"))


def write_report(lake: Path, out: Path, window: str | None = None, top: int | None = None) -> Path:
    """Write the report to ``out`` (replaced atomically); returns ``out``."""
    text = build_report(lake, window, top)
    tmp = Path(out).with_suffix(Path(out).suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return Path(out)


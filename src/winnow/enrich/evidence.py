"""Name the process behind a network finding, from ``net.conn_proc``."""

from __future__ import annotations

import dataclasses

import ibis
import pyarrow as pa

from winnow.engine import Engine, fetch
from winnow.scoring.finding import Finding

#: match qualities trusted enough to name a process in a finding
TRUSTED = ("exact", "skew")


def attach_processes(engine: Engine, findings: list[Finding]) -> list[Finding]:
    """Add ``evidence.process`` (and a clause to ``why``) to findings whose src/dst/dport traffic has one.

    The process is the one behind most of the finding's attributed connections between its
    first and last sighting; ``share`` says how many of the attributed connections it made.
    """
    table = engine.table("net.conn_proc")
    network = [(i, f) for i, f in enumerate(findings) if f.src and f.dst and f.first_seen and f.last_seen]
    if table is None or not network:
        return findings
    keys = ibis.memtable(pa.table({
        "k": pa.array([i for i, _ in network], pa.int64()),
        "k_src": [f.src for _, f in network], "k_dst": [f.dst for _, f in network],
        "k_dport": pa.array([f.dport for _, f in network], pa.int64()),
        "k_first": pa.array([f.first_seen for _, f in network], pa.timestamp("us", tz="UTC")),
        "k_last": pa.array([f.last_seen for _, f in network], pa.timestamp("us", tz="UTC")),
    }))
    rows = table.filter(table.match.isin(TRUSTED))
    joined = rows.join(keys, [
        rows.src_ip == keys.k_src, rows.dst_ip == keys.k_dst,
        keys.k_dport.isnull() | (rows.dst_port.cast("int64") == keys.k_dport),
        rows.ts >= keys.k_first, rows.ts <= keys.k_last,
    ])
    per = joined.group_by(["k", "side", "host", "image", "pid", "process_guid", "user"]).aggregate(
        n=joined.count(), command_line=joined.command_line.max())
    best: dict[int, dict] = {}
    totals: dict[int, int] = {}
    for row in sorted(fetch(per).to_pylist(), key=lambda r: (-r["n"], str(r["process_guid"]))):
        totals[row["k"]] = totals.get(row["k"], 0) + row["n"]
        best.setdefault(row["k"], row)
    out = list(findings)
    for k, row in best.items():
        finding = out[k]
        process = {c: row[c] for c in ("host", "image", "pid", "process_guid", "user", "command_line", "side")}
        process.update(connections=row["n"], share=round(row["n"] / totals[k], 4))
        where = "accepted by" if row["side"] == "dst" else "made by"
        why = (f"{finding.why}; {where} {row['image']} (pid {row['pid']}"
               + (f", {row['user']}" if row["user"] else "") + f") on {row['host']}"
               + (f" in {process['share']:.0%} of attributed connections" if process["share"] < 1 else ""))
        out[k] = dataclasses.replace(finding, evidence={**finding.evidence, "process": process}, why=why)
    return out

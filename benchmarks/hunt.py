"""Hunting verbs over a lake: stack, timeline, pivot and query, against DuckDB's raw scan of the same columns.

    PYTHONPATH=src python -P benchmarks/hunt.py --lake LAKE [--repeat 3]
    PYTHONPATH=src python -P benchmarks/hunt.py --hosts 1000 --work DIR    # simulate one day and ingest it first

Values to hunt are picked from the lake itself: the busiest internal address of ``net.conn``, an
outside address reached by one host, a workstation and an account of the endpoint tables, a domain
of ``net.dns``. Each verb runs ``--repeat`` times in one process (the first run reads the Parquet
footers cold), timed with ``time.perf_counter``; the table shows the fastest and slowest run. The
peer is DuckDB itself with no Winnow in between: one plain connection counting, per table, the rows
equal to the value in each column pivot reads (``count_if(col = 'v')``, lists ``list_contains``),
without short forms or first/last seen: the least any pivot must do.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _build(hosts: int, work: Path) -> Path:
    lake = work / f"h{hosts}-lake"
    if not (lake / "_manifest.jsonl").exists():
        logs = work / f"h{hosts}-logs"
        run = [sys.executable, "-m", "winnow.cli.main"]
        subprocess.run([*run, "simulate", "--out", str(logs), "--hosts", str(hosts), "--seed", "0"], check=True)
        subprocess.run([*run, "ingest", str(logs), "--lake", str(lake)], check=True, stdout=subprocess.DEVNULL)
    return lake


def _values(con) -> dict[str, str]:
    """Values worth hunting, from the lake: (kind -> value)."""
    def one(sql: str) -> str | None:
        rows = con.run(sql, 1).to_pylist()
        return next(iter(rows[0].values())) if rows else None

    picks = {}
    if "net.conn" in con.tables:
        picks["busy address"] = one("SELECT src_ip FROM net.conn GROUP BY 1 ORDER BY count(*) DESC")
        picks["rare outside address"] = one("SELECT dst_ip FROM net.conn WHERE NOT (dst_ip LIKE '10.%' OR dst_ip "
                                            "LIKE '192.168.%') GROUP BY 1 HAVING count(DISTINCT src_ip) = 1 "
                                            "ORDER BY count(*) DESC, 1")
    if "proc.exec" in con.tables:
        host = one("SELECT host FROM proc.exec WHERE host LIKE 'WS%' GROUP BY 1 ORDER BY 1")
        picks["workstation"] = host.split(".")[0] if host else None
        user = one("SELECT \"user\" FROM proc.exec WHERE \"user\" LIKE 'CORP\\%' GROUP BY 1 ORDER BY 1")
        picks["account"] = user.split("\\")[-1] if user else None
    if "net.dns" in con.tables:
        name = one("SELECT query FROM net.dns WHERE query LIKE '%.%.%' GROUP BY 1 ORDER BY count(*) DESC")
        picks["domain"] = ".".join(name.split(".")[-2:]) if name else None
    return {k: v for k, v in picks.items() if v}


def _timed(repeat: int, func) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return round(min(times), 2), round(max(times), 2), result


def _raw_pivot(lake: Path, value: str, columns: dict[str, dict[str, str]]) -> int:
    """DuckDB alone: per table, one scan counting the rows equal to ``value`` (lists: holding it) in each
    of ``columns`` (name -> type)."""
    import duckdb

    con = duckdb.connect()
    literal = "'" + value.replace("'", "''") + "'"
    found = 0
    for table, names in columns.items():
        counts = ", ".join(f'count_if(list_contains("{c}", {literal}))' if kind.endswith("[]")
                           else f'count_if("{c}" = {literal})' for c, kind in names.items())
        glob = f"{lake}/{table}/day=*/*.parquet"
        row = con.execute(f"SELECT {counts} FROM read_parquet('{glob}', union_by_name = true)").fetchone()
        found += sum(1 for n in row if n)
    con.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-hunt"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from winnow.engine import open_readonly
    from winnow.hunting import pivot, query, stack, timeline
    from winnow.hunting.match import predicates

    lake = args.lake or _build(args.hosts, args.work)
    rows: list[dict[str, object]] = []

    def record(what: str, func) -> object:
        fastest, slowest, result = _timed(args.repeat, func)
        rows.append({"what": what, "fastest_s": fastest, "slowest_s": slowest,
                     "rows": getattr(result, "num_rows", result)})
        return result

    started = time.perf_counter()
    with open_readonly(lake) as con:
        opened = round(time.perf_counter() - started, 2)
        sizes = {t: con.run(f'SELECT count(*) AS n FROM "{t}"').column("n")[0].as_py() for t in con.tables}
        values = _values(con)
        for kind, value in values.items():
            record(f"pivot {kind} ({value})", lambda v=value: pivot(con, v))
            record(f"timeline {kind} ({value}), first 1,000", lambda v=value: timeline(con, v, limit=1000))
            text = {t: {c: con.columns(t)[c] for c in predicates(t, con.columns(t), value)}
                    for t in con.tables if t != "findings"}
            record(f"raw DuckDB: count_if(col = value) over the same columns ({value})",
                   lambda v=value, cols=text: _raw_pivot(lake, v, {t: c for t, c in cols.items() if c}))
        if "proc.exec" in con.tables:
            record("stack proc.exec image --by host", lambda: stack(con, "proc.exec", "image", by="host"))
        if "net.conn" in con.tables:
            record("stack net.conn dst_port --by src_ip", lambda: stack(con, "net.conn", "dst_port", by="src_ip"))
            record("query: dst_port, count(*) FROM net.conn GROUP BY 1",
                   lambda: query(con, "SELECT dst_port, count(*) AS n FROM net.conn GROUP BY 1 ORDER BY n DESC"))
        if "net.dns" in con.tables:
            record("stack net.dns query --by src_ip", lambda: stack(con, "net.dns", "query", by="src_ip"))
    print(json.dumps({"lake": str(lake), "rows": sizes, "open_s": opened, "values": values, "timings": rows},
                     indent=1, default=str))


if __name__ == "__main__":
    main()

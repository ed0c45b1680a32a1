"""Server time of the workbench's pages on a simulated lake: queue, entity, beacon, stack, pivot, timeline, query.

    PYTHONPATH=src python -P benchmarks/web.py --lake LAKE [--runs 5] [--work /tmp/web-bench]

LAKE is a detected simulated lake (e.g. the 1,000-host week ``benchmarks/triage_workload.py`` builds).
It is hard-linked into --work so the risk cache the queue writes never touches LAKE. Each page is
requested through FastAPI's TestClient in this process (server time: routing, library calls,
rendering; no network), first once cold (the queue then computes the risk cache), then --runs times;
the median is reported for the HTML page and its JSON twin. The entity is the queue's riskiest host,
the beacon the top beacon finding's pair; stack is ``proc.exec``'s images by host (the hunter's first
stack), pivot and timeline the riskiest host's name, query the rows behind the rarest image (its stack row's link).
Goals: entity and stack under 1 s, queue under 0.5 s (median).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def timed(client, path: str, runs: int, html: bool) -> tuple[float, list[float]]:
    headers = {"Accept": "text/html"} if html else {}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.text[:300])
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/web-bench"))
    args = parser.parse_args()

    lake = args.work / "lake"
    if lake.exists():
        shutil.rmtree(lake)
    args.work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(args.lake), str(lake)], check=True)  # hard links: LAKE is never written
    (lake / "_derived" / "risk.parquet").unlink(missing_ok=True)

    from fastapi.testclient import TestClient

    from winnow.web.app import create_app
    from winnow.web.beacon_data import pair_of

    client = TestClient(create_app(lake), base_url="http://127.0.0.1")
    start = time.perf_counter()
    rows = client.get("/queue.json?limit=200").json()["rows"]
    cold_queue = time.perf_counter() - start
    host = next(r["entity"] for r in rows if r["entity_type"] == "host")
    pair = next(f["finding"] for r in rows for f in r["top_findings"] if f["detector"] == "beacon")
    src, dst, port = pair_of(pair)
    stacked = "/stack?table=proc.exec&column=image&by=host"
    rarest = client.get(stacked.replace("/stack", "/stack.json")).json()["rows"][0]["link"]
    pages = {"queue": "/queue", "entity": f"/entity/{host}?type=host",
             "beacon": f"/beacon?src={src}&dst={dst}&dport={port}", "stack": stacked,
             "stack net.conn dst_port": "/stack?table=net.conn&column=dst_port", "pivot": f"/pivot?value={host}",
             "timeline": f"/timeline?entity={host}", "query (a stack row's rows)": rarest}
    out = {"lake": str(args.lake), "runs": args.runs, "cold_queue_s": round(cold_queue, 3), "entity": host,
           "beacon": pair, "pages": {}}
    for name, path in pages.items():
        base, _, query = path.partition("?")
        twin = base + ".json" + (f"?{query}" if query else "")
        start = time.perf_counter()
        client.get(path, headers={"Accept": "text/html"})
        cold = time.perf_counter() - start
        html, html_runs = timed(client, path, args.runs, True)
        data, _ = timed(client, twin, args.runs, False)
        out["pages"][name] = {"cold_s": round(cold, 3), "median_s": round(html, 3), "json_median_s": round(data, 3),
                              "runs_s": [round(t, 3) for t in html_runs]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Threat intel accuracy on a simulated day: a feed naming the planted C2 servers (their addresses and names,
from the simulator's truth) hidden among random indicators; the intel findings scored against the truth.

    python benchmarks/accuracy_intel.py LOGS LAKE [--noise 100000] [--engine duckdb]

LOGS is a ``winnow simulate --out`` folder (its truth.json lists the planted beacons: source, destination
address, and name when the C2 has one) and LAKE the lake ingested from it. Expected: one finding per
(C2 address, beaconing host) and per (C2 name, beaconing host); a finding about a C2 indicator and any other
local entity is a false positive (a host that was not planted talking to a C2), a missing pair a miss.
The random indicators (addresses, subnets of private documentation space, domains under .invalid, hashes)
must match nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path


def truth_pairs(truth: dict) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(indicator, local) pairs the planted beacons make: by address and by name."""
    by_address = {(b["dst"], b["src"]) for b in truth["beacons"]}
    by_name = {(b["name"].lower(), b["src"]) for b in truth["beacons"] if b.get("name")}
    return by_address, by_name


def write_feed(folder: Path, truth: dict, noise: int, seed: int = 7) -> int:
    """A CSV feed of the planted C2 addresses and names plus ``noise`` random indicators; rows written."""
    rng = random.Random(seed)
    lines = ["type,value,confidence,description"]
    lines += sorted({f"ip,{b['dst']},90,planted C2 address" for b in truth["beacons"]})
    lines += sorted({f"domain,{b['name'].lower()},90,planted C2 name" for b in truth["beacons"] if b.get("name")})
    for i in range(noise):
        pick = i % 4
        if pick == 0:
            lines.append(f"ip,198.18.{rng.randrange(256)}.{rng.randrange(256)},60,noise")  # benchmarking space
        elif pick == 1:
            lines.append(f"domain,{rng.getrandbits(40):x}.invalid,60,noise")
        elif pick == 2:
            lines.append(f"sha256,{rng.getrandbits(256):064x},60,noise")
        else:
            lines.append(f"cidr,198.19.{rng.randrange(256)}.0/24,60,noise")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feed.csv").write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs")
    parser.add_argument("lake")
    parser.add_argument("--noise", type=int, default=100_000)
    parser.add_argument("--engine", default="duckdb")
    args = parser.parse_args()

    from winnow.detections import get_detector
    from winnow.engine import Window, connect

    truth = json.loads((Path(args.logs) / "truth.json").read_text())
    by_address, by_name = truth_pairs(truth)
    expected = by_address | by_name
    with tempfile.TemporaryDirectory() as tmp:
        rows = write_feed(Path(tmp), truth, args.noise)
        with connect(args.engine, args.lake) as engine:
            started = time.perf_counter()
            found = get_detector("intel", feeds=tmp, limit=10**9).find(engine, Window())
            seconds = time.perf_counter() - started
    got = {(f.evidence["indicator"], f.evidence["local"]) for f in found}
    noise_hits = sorted(p for p in got if p not in expected and not any(p[0] == e[0] for e in expected))
    true_pos = got & expected
    out = {
        "engine": args.engine, "feed_rows": rows, "planted_pairs": len(expected),
        "planted_by_address": len(by_address), "planted_by_name": len(by_name),
        "findings": len(got), "true_positives": len(true_pos),
        "precision": round(len(true_pos) / max(len(got), 1), 4), "recall": round(len(true_pos) / len(expected), 4),
        "missed": sorted(expected - got), "other_hosts_on_c2": sorted(got - expected - set(noise_hits)),
        "noise_matches": noise_hits[:20], "seconds": round(seconds, 3),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""Learning curve of the expert model against a hidden simulated expert, active vs random selection.

    PYTHONPATH=src python -P benchmarks/triage_learning.py [--seeds 1 2 3] [--hosts-a 30 --hosts-b 60]
        [--work /tmp/triage-learning] [--noise 0.4]

Two simulated networks (``winnow simulate``, seeds 11 and 12, --hosts-a and --hosts-b hosts, one day) are
ingested and detected; their entities' features (``winnow risk``) anchor the scenario design.

The hidden expert (not the model's functional form): a utility with thresholds and interactions,

    u = 2.2 beacon² (×0.6 unless rare > 0.3)  + 2.0 identity (×1.3 for a critical asset / privileged account)
      + 1.6 max(endpoint - 0.4, 0)/0.6 + 1.2 alerts + 0.8 [families ≥ 2] + 0.5 [families ≥ 3]
      + 0.9 process + 0.6 failures (×0.4 unless detectors ≥ 2) + 0.3 max_score

rated ``round(1 + 4 σ(1.6 (u − 1.5)) + ε)``, ε ~ N(0, noise), clipped to 1..5. For each seed, ratings
are taken one batch at a time from 600 design scenarios of network A, in random order or by active
learning (query by committee), and the model's ranking of 300 held-out scenarios of A plus A's real
entities is compared with the expert's noiseless utility (Spearman) after 10, 25, 50, 100 and 200
ratings. Generalisation: the model fitted on 100 actively chosen ratings of A ranks network B's held-out
scenarios and real entities; the drop in Spearman against B's own model is reported.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

CHECKPOINTS = (10, 25, 50, 100, 200)


def utility(x: dict[str, float]) -> float:
    u = 2.2 * x["beacon"] ** 2 * (1.0 if x["rare"] > 0.3 else 0.6)
    u += 2.0 * x["identity"] * (1.3 if x["context"] else 1.0)
    u += 1.6 * max(x["endpoint"] - 0.4, 0.0) / 0.6 + 1.2 * x["alerts"]
    u += 0.8 * (x["families"] >= 2) + 0.5 * (x["families"] >= 3) + 0.9 * x["process"]
    u += 0.6 * x["failures"] * (1.0 if x["detectors"] >= 2 else 0.4) + 0.3 * x["max_score"]
    return u


def rate(x: dict[str, float], rng: random.Random, noise: float) -> int:
    value = 1 + 4 / (1 + math.exp(-1.6 * (utility(x) - 1.5))) + rng.gauss(0, noise)
    return int(min(5, max(1, round(value))))


def spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def anchors(work: Path, name: str, hosts: int, seed: int) -> list[dict[str, float]]:
    """Feature vectors of the entities of one simulated network (cached)."""
    from winnow.triage.features import entity_features

    root = work / name
    cache = root / "features.json"
    if cache.exists():
        return json.loads(cache.read_text())
    cli = [sys.executable, "-m", "winnow.cli.main"]
    subprocess.run(cli + ["simulate", "--out", str(root / "logs"), "--hosts", str(hosts), "--seed", str(seed),
                          "--logons"], check=True, capture_output=True)
    subprocess.run(cli + ["ingest", str(root / "logs"), "--lake", str(root / "lake")], check=True,
                   capture_output=True)
    subprocess.run(cli + ["detect", "--lake", str(root / "lake")], check=True, capture_output=True)
    out = subprocess.run(cli + ["risk", "--lake", str(root / "lake"), "--format", "jsonl"], check=True,
                         capture_output=True, text=True).stdout
    rows = [entity_features(json.loads(line)) for line in out.splitlines()]
    rows = [dict(t) for t in {tuple(sorted(r.items())) for r in rows}]  # distinct profiles only
    rows.sort(key=lambda r: sorted(r.items()))
    cache.write_text(json.dumps(rows))
    return rows


def curve(candidates, held_out, truth, seed: int, noise: float, active: bool) -> dict[int, float]:
    from winnow.triage.design import MIN_TO_FIT, pick
    from winnow.triage.model import ExpertModel

    rng = random.Random(seed)
    pool = list(candidates)
    if not active:
        rng.shuffle(pool)
    rows, ratings, out = [], [], {}
    while len(rows) < max(CHECKPOINTS):
        if active and len(rows) >= MIN_TO_FIT:
            batch = max(1, len(rows) // 10)
            chosen = pick(pool, rows, ratings, k=batch, seed=seed + len(rows))
        else:
            chosen = pool[:1]
        for c in chosen:
            pool.remove(c)
            rows.append(c["features"])
            ratings.append(rate(c["features"], rng, noise))
            if len(rows) in CHECKPOINTS:
                model = ExpertModel.fit(rows, ratings)
                out[len(rows)] = spearman(model.scores(held_out, bounded=False), truth)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--hosts-a", type=int, default=30)
    parser.add_argument("--hosts-b", type=int, default=60)
    parser.add_argument("--noise", type=float, default=0.4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/triage-learning"))
    args = parser.parse_args()
    from winnow.triage.design import scenarios
    from winnow.triage.model import ExpertModel

    args.work.mkdir(parents=True, exist_ok=True)
    real_a = anchors(args.work, "a", args.hosts_a, 11)
    real_b = anchors(args.work, "b", args.hosts_b, 12)
    results = {"active": {c: [] for c in CHECKPOINTS}, "random": {c: [] for c in CHECKPOINTS}}
    transfer = []
    for seed in args.seeds:
        candidates = scenarios(real_a, 600, seed=seed)
        held_a = [s["features"] for s in scenarios(real_a, 300, seed=seed + 100)] + real_a
        truth_a = [utility(x) for x in held_a]
        for mode in ("active", "random"):
            for n, rho in curve(candidates, held_a, truth_a, seed, args.noise, mode == "active").items():
                results[mode][n].append(rho)
        # generalisation: A's model on B, against B's own model (100 active ratings each)
        held_b = [s["features"] for s in scenarios(real_b, 300, seed=seed + 200)] + real_b
        truth_b = [utility(x) for x in held_b]
        fitted = {}
        for name, real in (("a", real_a), ("b", real_b)):
            pool = scenarios(real, 600, seed=seed + 300)
            rng = random.Random(seed)
            rows, ratings = [], []
            from winnow.triage.design import pick

            while len(rows) < 100:
                for c in pick(pool, rows, ratings, k=max(1, len(rows) // 10), seed=seed + len(rows)):
                    pool.remove(c)
                    rows.append(c["features"])
                    ratings.append(rate(c["features"], rng, args.noise))
            fitted[name] = ExpertModel.fit(rows, ratings)
        own = spearman(fitted["b"].scores(held_b, bounded=False), truth_b)
        moved = spearman(fitted["a"].scores(held_b, bounded=False), truth_b)
        transfer.append({"seed": seed, "b_own": round(own, 3), "a_on_b": round(moved, 3),
                         "drop": round(own - moved, 3)})
    print(f"entities: network A {len(real_a)} ({args.hosts_a} hosts), B {len(real_b)} ({args.hosts_b} hosts); "
          f"noise {args.noise}; seeds {args.seeds}")
    print(f"{'ratings':>8} {'active':>16} {'random':>16}")
    for n in CHECKPOINTS:
        a, r = results["active"][n], results["random"][n]
        print(f"{n:8d} {statistics.mean(a):8.3f} ±{statistics.pstdev(a):.3f} {statistics.mean(r):8.3f} "
              f"±{statistics.pstdev(r):.3f}")
    print(json.dumps({"transfer": transfer}))


if __name__ == "__main__":
    main()

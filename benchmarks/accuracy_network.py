"""Accuracy of the network detectors on seeded simulations, scored like the held-out evaluation.

    python benchmarks/accuracy_network.py --seeds 1 2 3 4 5 --hosts 200

For each seed: simulate a day, ingest it, run every detector, write `winnow findings --format jsonl`
and score it with the evaluation script (default ../shared/eval/score_network.py, the same one
the held-out check uses). Prints one JSON line per seed and the mean of the numeric metrics.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def winnow(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], check=True, capture_output=True,
                          text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--scorer", type=Path, default=ROOT.parent / "shared" / "eval" / "score_network.py")
    args = parser.parse_args()
    if not args.scorer.exists():
        raise SystemExit(f"scorer not found at {args.scorer}; pass --scorer")
    results = []
    with tempfile.TemporaryDirectory(prefix="winnow-acc-") as tmp:
        for seed in args.seeds:
            logs, lake = Path(tmp) / f"logs{seed}", Path(tmp) / f"lake{seed}"
            winnow("simulate", "--out", str(logs), "--hosts", str(args.hosts), "--seed", str(seed))
            winnow("ingest", str(logs), "--lake", str(lake))
            winnow("detect", "--lake", str(lake))
            findings = Path(tmp) / f"findings{seed}.jsonl"
            findings.write_text(winnow("findings", "--lake", str(lake), "--format", "jsonl"))
            score = json.loads(subprocess.run([sys.executable, str(args.scorer), str(logs / "truth.json"),
                                               str(findings)], check=True, capture_output=True, text=True).stdout)
            score["seed"] = seed
            results.append(score)
            print(json.dumps(score), flush=True)
    mean_ap = sum(r["beacon_ap"] for r in results) / len(results)
    recall = sum(r["beacon_recall_at_2p"] for r in results) / len(results)
    print(json.dumps({"seeds": len(results), "hosts": args.hosts, "mean_beacon_ap": round(mean_ap, 4),
                      "mean_beacon_recall_at_2p": round(recall, 4)}))


if __name__ == "__main__":
    main()

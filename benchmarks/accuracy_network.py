"""Accuracy of the network detectors on seeded simulations, scored like the held-out evaluation.

    python benchmarks/accuracy_network.py --seeds 1 2 3 4 5 --hosts 200

For each seed: simulate a day, ingest it, run every detector, write `winnow findings --format jsonl`
and score it with the evaluation script (default ../shared/eval/score_network.py, the same one
the held-out check uses) twice (see `winnow.sim.score_network`): `classic`, the planted beacons as
positives and the newer C2 shapes neutral (comparable with earlier runs), and `with_shapes`, the
replyless, tasked, sparse and burst C2 shapes positives too. Also per seed: each shape's beacon rank,
and the medium-or-higher findings on housekeeping and on responder-side/flipped Zeek records.
Prints one JSON line per seed and the means.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from winnow.sim.score_network import benign_hits, scoring_truth, shape_ranks  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}


def winnow(*args: str) -> str:
    """Run the CLI of this checkout (not whichever winnow is installed)."""
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout


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
            truth = json.loads((logs / "truth.json").read_text())
            rows = [json.loads(line) for line in findings.read_text().splitlines() if line.strip()]
            score: dict = {"seed": seed}
            for view, positive in (("classic", False), ("with_shapes", True)):
                view_truth = Path(tmp) / f"truth{seed}-{view}.json"
                view_truth.write_text(json.dumps(scoring_truth(truth, positive)))
                score[view] = json.loads(subprocess.run([sys.executable, str(args.scorer), str(view_truth),
                                                         str(findings)], check=True, capture_output=True,
                                                        text=True).stdout)
            score["shapes"] = shape_ranks(truth, rows)
            score.update(benign_hits(truth, rows))
            results.append(score)
            print(json.dumps(score), flush=True)
    summary: dict = {"seeds": len(results), "hosts": args.hosts}
    for view in ("classic", "with_shapes"):
        for metric in ("beacon_ap", "beacon_recall_at_2p"):
            summary[f"{view}_mean_{metric}"] = round(sum(r[view][metric] for r in results) / len(results), 4)
    for kind in results[0]["shapes"]:
        found = sum(r["shapes"][kind]["beacon_rank"] is not None for r in results)
        summary[f"{kind}_found_by_beacon"] = f"{found}/{len(results)}"
    summary["mean_housekeeping_medium_plus"] = sum(r["housekeeping_medium_plus"] for r in results) / len(results)
    summary["mean_side_records_medium_plus"] = sum(r["side_records_medium_plus"] for r in results) / len(results)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

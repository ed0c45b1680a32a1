"""Beacon ranks on the labelled public captures in ../shared/data (see its MANIFEST.md).

    PYTHONPATH=src python benchmarks/beacon_real.py [--data ../shared/data] [--work /tmp/beacon-real]

For each capture: ingest it (once, cached under --work), run the beacon detector at its defaults with
the capture's internal networks, and print the rank and score of each labelled C&C pair among the
beacon findings (by unique (src, dst) pair), the capture's average precision, and the number of
medium-or-higher beacon findings on benign captures. Labelled pairs come from the MANIFEST.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (path under data, internal networks or None for the default, labelled C&C (src, dst) pairs)
CAPTURES = {
    "rita-missing-host": ("rita-zeek-beacon/missing_host", None, [("73.54.23.243", "64.225.56.201")]),
    "strat001-njrat-dead-c2": ("stratosphere/security-datasets-for-testing/001-zeek-scenario-malicious", None,
                               [("192.168.1.115", "41.108.179.197")]),
    "strat003-androidtester-rat": ("stratosphere/security-datasets-for-testing/003-zeek-scenario-malicious", None,
                                   [("10.8.0.61", "147.32.83.234")]),
    "argus-test5-mixed": ("stratosphere/slips-dataset/argus-binetflow/test5-mixed.binetflow", None,
                          [("10.0.2.15", "23.253.126.58")]),
    "argus-test2-malicious": ("stratosphere/slips-dataset/argus-binetflow/test2-malicious.binetflow", None, []),
    "ctu-sme-11-remcos": ("stratosphere/slips-dataset/zeek/test18-malicious-ctu-sme-11-win", None,
                          [("192.168.1.107", "66.63.168.35"), ("192.168.1.107", "178.237.33.50")]),
    "mordor-apt29-day1": ("mordor/apt29/day1/zeek", None,
                          [("10.0.1.6", "192.168.0.4"), ("10.0.1.4", "192.168.0.5"), ("10.0.1.4", "192.168.0.4")]),
    "mordor-apt29-day2": ("mordor/apt29/day2/zeek", None, [("10.0.1.5", "192.168.0.4")]),
    "strat008-benign-windows-day": ("stratosphere/security-datasets-for-testing/008-zeek-mixed/data", None, []),
}


def average_precision(ranked: list[tuple[str, str]], positives: set[tuple[str, str]]) -> float | None:
    """AP over unique pairs; positives never reported count as misses."""
    if not positives:
        return None
    hits, total = 0, 0.0
    for i, pair in enumerate(ranked, 1):
        if pair in positives:
            hits += 1
            total += hits / i
    return total / len(positives)


def main() -> None:
    from winnow.config import load, use
    from winnow.detections import get_detector
    from winnow.engine import Window, connect
    from winnow.ingest import ingest

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/beacon-real"))
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    aps = []
    for name, (rel, internal, labelled) in CAPTURES.items():
        if args.only and name not in args.only:
            continue
        lake = args.work / name
        if not (lake / ".done").exists():
            ingest([args.data / rel], lake)
            (lake / ".done").write_text("")
        sets = [f"networks.internal={internal}"] if internal else []
        try:
            with use(load(sets=sets)), connect("duckdb", lake) as engine:
                findings = get_detector("beacon").find(engine, Window())
        except Exception as exc:  # noqa: BLE001 - a crash is a result here
            print(json.dumps({"capture": name, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        ranked, scores = [], {}
        for f in findings:
            if (f.src, f.dst) not in scores:
                ranked.append((f.src, f.dst))
                scores[(f.src, f.dst)] = (round(f.score, 3), f.severity, f.evidence.get("period_s"))
        positives = set(labelled)
        ap = average_precision(ranked, positives)
        if ap is not None:
            aps.append(ap)
        out = {"capture": name, "pairs": len(ranked), "ap": None if ap is None else round(ap, 3),
               "medium_plus": sum(f.severity in ("medium", "high") for f in findings),
               "labelled": {f"{s}->{d}": [ranked.index((s, d)) + 1, *scores[(s, d)]] if (s, d) in scores else None
                            for s, d in labelled},
               "top3": [f"{f.entity} {f.score:.3f}" for f in findings[:3]]}
        print(json.dumps(out), flush=True)
    if aps:
        print(json.dumps({"mean_ap_labelled": round(sum(aps) / len(aps), 3), "captures": len(aps)}))


if __name__ == "__main__":
    main()

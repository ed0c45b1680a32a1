"""The peer for network benchmarks: RITA v5's published beacon scoring, written straightforwardly in pandas.

    python benchmarks/rita_peer.py LAKE [--out FINDINGS.jsonl]

RITA (activecm/rita v5) scores every (internal src, external dst) pair with at least 4 connections:

* timestamp score: mean of a Bowley-skewness score (1 - |skew|, skew 0 when the inter-quartile range < 10 s
  or the median sits on a quartile) and a MAD score ((median - MAD) / median) over the non-zero intervals;
* data-size score: the same two statistics over the per-connection byte totals (MAD score 0 when median < 1);
* histogram score: 24 equal bins over the dataset's time span; max of the coefficient-of-variation score
  (1 - CV, 0 when CV > 1) and a bimodal fit (share of non-empty bins in the two most common bar heights,
  bars grouped by 5 % of the tallest, one outlier bin forgiven, at least 11 bars);
* duration score: when at least 6 bins are non-empty, max of span coverage (last - first over the dataset
  span) and consistency (longest run of non-empty bins, wrapping, over 12);
* score = 0.25 of each, then the prevalence modifier, added and not clipped at 1 as RITA adds modifiers:
  +0.15 when at most 2 % of internal hosts contact the destination, -0.15 when at least 50 % do.

Everything is vectorized per pair with pandas/numpy (no per-pair Python loop), so the comparison with
Winnow measures algorithms and engines, not interpreter overhead. Output: findings in Winnow's jsonl
contract (detector ``rita_beacon``) so ``../shared/eval/score_network.py`` can score the peer too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

MIN_CONNECTIONS = 4
BINS = 24
MODE_SENSITIVITY = 0.05
BIMODAL_OUTLIERS = 1
BIMODAL_MIN_BARS = 11
DURATION_MIN_BARS = 6
DURATION_IDEAL_RUN = 12
PREVALENCE_LOW, PREVALENCE_HIGH, PREVALENCE_STEP = 0.02, 0.5, 0.15


def load_outbound(lake: Path) -> pd.DataFrame:
    """Outbound connections (local originator, remote responder) as pair codes, seconds and byte totals."""
    data = ds.dataset(lake / "net.conn", format="parquet", partitioning="hive")
    table = data.to_table(columns=["ts", "src_ip", "dst_ip", "src_bytes", "dst_bytes", "local_orig", "local_resp"])
    frame = table.to_pandas(strings_to_categorical=True)
    outbound = frame["local_orig"].fillna(False).astype(bool) & ~frame["local_resp"].fillna(False).astype(bool)
    frame = frame.loc[outbound]
    return pd.DataFrame({
        "src": frame["src_ip"], "dst": frame["dst_ip"],
        "t": frame["ts"].astype("int64") // 1_000_000,  # RITA keeps whole seconds
        "bytes": frame["src_bytes"].fillna(0).astype("int64") + frame["dst_bytes"].fillna(0).astype("int64"),
    })


def _skew_mad_scores(frame: pd.DataFrame, value: str, key: str, default_mad: float) -> pd.DataFrame:
    """Bowley-skewness and MAD scores of ``value`` per ``key`` (RITA's calculateStatisticalScore)."""
    grouped = frame.groupby(key)[value]
    quart = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    q1, q2, q3 = quart[0.25], quart[0.5], quart[0.75]
    den = q3 - q1
    ok = (den >= 10) & (q2 != q1) & (q2 != q3)
    skew = ((q1 + q3 - 2 * q2) / den.where(den != 0)).where(ok, 0.0)
    dev = (frame[value] - frame[key].map(q2)).abs()
    mad = dev.groupby(frame[key]).median()
    mad_score = ((q2 - mad) / q2).where(q2 >= 1, default_mad).clip(lower=0).fillna(0)
    return pd.DataFrame({"score": (((1 - skew.abs()) + mad_score) / 2).round(3), "median": q2, "mad": mad})


def _histogram_scores(frame: pd.DataFrame, t0: int, t1: int) -> pd.DataFrame:
    """Histogram (CV / bimodal) and duration scores per pair over 24 bins of the dataset span."""
    step = (t1 - t0) / BINS
    bins = np.minimum(((frame["t"].to_numpy() - t0) / step).astype(np.int64), BINS - 1)
    pairs, row = np.unique(frame["pair"].to_numpy(), return_inverse=True)
    hist = np.zeros((len(pairs), BINS))
    np.add.at(hist, (row, bins), 1)
    mean = hist.mean(axis=1)
    cv = hist.std(axis=1) / mean
    cv_score = np.where(cv > 1, 0.0, np.round(1 - cv, 3))
    bars = (hist > 0).sum(axis=1)
    size = np.ceil(hist.max(axis=1) * MODE_SENSITIVITY)
    heights = np.where(hist > 0, np.floor(hist / size[:, None]) * size[:, None], -1.0)
    heights.sort(axis=1)
    # counts of equal heights per row: run lengths of the sorted row, ignoring the -1 padding
    top2 = np.zeros(len(hist))
    for row in range(len(hist)):  # 24 columns: cheap per row, vectorizing gains nothing here
        values, freq = np.unique(heights[row][heights[row] >= 0], return_counts=True)
        freq.sort()
        top2[row] = freq[-2:].sum() if len(freq) else 0
    bimodal = np.where(bars >= BIMODAL_MIN_BARS, np.minimum(np.round(top2 / np.maximum(bars - BIMODAL_OUTLIERS, 1),
                                                                      3), 1.0), 0.0)
    seen = np.concatenate([hist > 0, hist > 0], axis=1)
    run = np.zeros(len(hist), dtype=np.int64)
    longest = np.zeros(len(hist), dtype=np.int64)
    for col in range(seen.shape[1]):
        run = np.where(seen[:, col], run + 1, 0)
        longest = np.maximum(longest, run)
    longest = np.minimum(longest, BINS)
    span = frame.groupby("pair")["t"].agg(["min", "max"]).reindex(pairs)
    coverage = np.minimum(np.ceil((span["max"] - span["min"]).to_numpy() / (t1 - t0) * 1000) / 1000, 1.0)
    consistency = np.minimum(np.ceil(longest / DURATION_IDEAL_RUN * 1000) / 1000, 1.0)
    duration = np.where(bars >= DURATION_MIN_BARS, np.maximum(coverage, consistency), 0.0)
    return pd.DataFrame({"hist": np.maximum(cv_score, bimodal), "duration": duration}, index=pairs)


def score(frame: pd.DataFrame) -> pd.DataFrame:
    """RITA v5 beacon scores for every pair with at least MIN_CONNECTIONS connections."""
    t0, t1 = int(frame["t"].min()), int(frame["t"].max())
    internal_hosts = frame["src"].nunique()
    prevalence = frame.groupby("dst", observed=True)["src"].nunique() / max(internal_hosts, 1)
    src_codes, dst_codes = frame["src"].cat.codes.to_numpy(np.int64), frame["dst"].cat.codes.to_numpy(np.int64)
    n_dst = len(frame["dst"].cat.categories)
    frame = frame.assign(pair=src_codes * n_dst + dst_codes)  # one integer per (src, dst)
    size = frame.groupby("pair").size()
    keep = size[size >= MIN_CONNECTIONS].index
    frame = frame[frame["pair"].isin(keep)].sort_values(["pair", "t"], kind="stable")
    gaps = frame.assign(dt=frame.groupby("pair")["t"].diff())
    gaps = gaps[gaps["dt"] > 0]
    nonzero = gaps.groupby("pair").size()
    valid = nonzero[nonzero >= 3].index
    ts = _skew_mad_scores(gaps[gaps["pair"].isin(valid)], "dt", "pair", 1.0)
    frame = frame[frame["pair"].isin(valid)]
    dsz = _skew_mad_scores(frame, "bytes", "pair", 0.0)
    hist = _histogram_scores(frame, t0, t1)
    out = pd.DataFrame({"ts_score": ts["score"], "ds_score": dsz["score"]}).join(hist)
    out["base"] = (0.25 * (out["ts_score"] + out["ds_score"] + out["hist"] + out["duration"])).round(3)
    codes = out.index.to_numpy(np.int64)
    out["src"] = np.asarray(frame["src"].cat.categories)[codes // n_dst]
    out["dst"] = np.asarray(frame["dst"].cat.categories)[codes % n_dst]
    out["period_s"] = ts["median"]
    prev = out["dst"].map(prevalence).fillna(0).to_numpy()
    out["prevalence"] = prev
    out["score"] = (out["base"] + np.where(prev <= PREVALENCE_LOW, PREVALENCE_STEP, 0.0)
                    - np.where(prev >= PREVALENCE_HIGH, PREVALENCE_STEP, 0.0)).clip(lower=0)
    out["connections"] = size.reindex(out.index).to_numpy()
    return out.sort_values("score", ascending=False)


def write_findings(scores: pd.DataFrame, path: Path) -> None:
    """Write the peer's scores in the findings jsonl contract (only the fields the scorer reads are filled)."""
    with path.open("w") as out:
        for row in scores.itertuples():
            out.write(json.dumps({
                "detector": "rita_beacon", "score": float(row.score), "src": row.src, "dst": row.dst,
                "components": {"ts": float(row.ts_score), "ds": float(row.ds_score), "hist": float(row.hist),
                               "duration": float(row.duration)},
                "evidence": {"period_s": float(row.period_s), "connections": int(row.connections),
                             "prevalence": float(row.prevalence)},
            }) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lake", type=Path)
    parser.add_argument("--out", type=Path, help="write findings jsonl here")
    args = parser.parse_args()
    start = time.perf_counter()
    frame = load_outbound(args.lake)
    loaded = time.perf_counter()
    scores = score(frame)
    done = time.perf_counter()
    if args.out:
        write_findings(scores, args.out)
    print(json.dumps({"rows": len(frame), "pairs_scored": len(scores), "load_s": round(loaded - start, 2),
                      "score_s": round(done - loaded, 2), "total_s": round(done - start, 2)}))


if __name__ == "__main__":
    main()

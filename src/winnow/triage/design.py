"""Synthetic scenarios to rate, and which one to rate next.

**Design.** A scenario is an entity described by its features (:mod:`winnow.triage.features`). Rating
only real entities teaches little: real features move together (a beacon is usually also a rare
destination), so the model cannot tell which one the analyst was reacting to. Scenarios are built as
a conjoint-style experimental design: every feature takes one of three levels (low, typical, high:
the 10th, 50th and 90th percentiles of the real entities it is anchored on, widened to the feature's
range where the lake has no spread), each level equally often, levels of different features paired
as evenly as a Latin design allows, so each feature's part-worth is identifiable from few ratings.
Profiles are then made coherent (the strongest finding is at least every per-kind score, detectors
at least the kinds of data that agree, findings at least the detectors) so that every card describes
an entity that could exist.

**Active learning.** The next scenario is, of a random sample of ``SAMPLE`` candidates, the one a
committee of models fitted on bootstrap resamples of the ratings disagrees on most (query by
committee over a sample: uncertainty without chasing the design's extreme corners); until there are enough ratings to
fit (``MIN_TO_FIT``), the design order is followed. Subjects two analysts rated differently come
first: their disagreement is the most useful thing to settle.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

import numpy as np

from winnow.triage.features import BY_NAME, FEATURES, NAMES, describe

MIN_TO_FIT = 8
SAMPLE = 25  # candidates the committee judges per pick
_BINARY = {"process", "context"}
_GROUPS = ("beacon", "rare", "failures", "identity", "endpoint", "alerts")


def levels(anchors: list[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    """Low, typical and high value of each feature over ``anchors`` (real entities)."""
    out = {}
    for f in FEATURES:
        if f.name in _BINARY:
            out[f.name] = (0.0, 0.0, 1.0)
            continue
        values = np.array([a.get(f.name, 0.0) for a in anchors]) if anchors else np.array([f.low, f.high])
        low, mid, high = (float(v) for v in np.quantile(values, [0.1, 0.5, 0.9]))
        span = f.high - f.low
        if high - low < 0.25 * span:  # the lake shows no spread: use the feature's range
            low, mid, high = f.low, f.low + span / 2, f.high
        out[f.name] = (low, mid, high)
    return out


def coherent(features: dict[str, float]) -> dict[str, float]:
    x = dict(features)
    x["max_score"] = max([x["max_score"]] + [x[g] for g in _GROUPS])
    kinds = sum(1 for g in _GROUPS if x[g] > 0)
    x["detectors"] = float(max(x["detectors"], x["families"], kinds, 1))
    x["families"] = float(min(max(x["families"], 1), x["detectors"]))
    x["findings"] = max(x["findings"], math.log1p(x["detectors"]))
    return {k: round(v, 4) for k, v in x.items()}


def scenarios(anchors: list[dict[str, float]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` scenarios of the design, each ``{"id", "features", "card"}``."""
    rng = random.Random(seed)
    table = levels(anchors)
    columns = {}
    for name in NAMES:  # each level equally often, in an independent random order per feature (Latin design)
        column = [i % 3 for i in range(n)]
        rng.shuffle(column)
        columns[name] = column
    out = []
    for i in range(n):
        features = coherent({name: table[name][columns[name][i]] for name in NAMES})
        digest = hashlib.sha256(repr(sorted(features.items())).encode()).hexdigest()[:10]
        out.append({"id": f"scenario:{digest}", "features": features, "card": card(features)})
    return out


def card(features: dict[str, float], title: str = "A synthetic entity") -> dict[str, Any]:
    """What an analyst is shown: a title and the features in words."""
    return {"title": title, "facts": describe(features)}


def pick(candidates: list[dict[str, Any]], rated: list[dict[str, float]], ratings: list[float], k: int = 1,
         seed: int = 0, disputed: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The next ``k`` scenarios to rate (see the module docstring)."""
    chosen = list(disputed or [])[:k]
    rated_keys = {_key(r) for r in rated}
    pool = [c for c in candidates if _key(c["features"]) not in rated_keys and c not in chosen]
    if len(chosen) >= k or not pool:
        return chosen[:k]
    if len(rated) < MIN_TO_FIT:
        return chosen + pool[:k - len(chosen)]
    from winnow.triage.model import committee

    models = committee(rated, ratings, seed=seed)
    # uncertainty among a random sample of the design, not over all of it: the most uncertain
    # profiles overall are the design's corners, which teach little about typical entities
    sample = max(k, SAMPLE)
    if len(pool) > sample:
        pool = random.Random(seed).sample(pool, sample)
    rows = [c["features"] for c in pool]
    spread = np.std(np.array([m.scores(rows) for m in models]), axis=0)
    order = sorted(range(len(pool)), key=lambda i: -spread[i])
    return chosen + [pool[i] for i in order[:k - len(chosen)]]


def _key(features: dict[str, float]) -> tuple:
    return tuple(round(float(features.get(n, 0.0)), 4) for n in NAMES)


def feature_range(name: str) -> tuple[float, float]:
    return BY_NAME[name].low, BY_NAME[name].high

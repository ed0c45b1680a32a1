"""The expert model: a monotone additive model of analysts' ratings, explained by its own terms.

Why this model (and not InterpretML's EBM): ratings are few (tens, not thousands), every feature has a
known direction (more evidence is never less suspicious) and the explanation must be exact. The model
is ``score = intercept + sum_j f_j(x_j)`` where each shape ``f_j`` is piecewise linear between
quantile knots of the data it was fitted on, with non-negative slopes (monotone), fitted by ridge-
penalised least squares on ratings mapped to [0, 1] (1 -> 0, 5 -> 1). With one free slope per knot
interval, a handful of ratings per feature identifies its part-worth; the ridge keeps unrated regions
flat instead of wild. An EBM (boosted trees per feature, pairwise interactions) needs far more
ratings before its shapes stop being noise and cannot be told that a direction is known.

Each term is reported as its deviation from the feature's average over the fitting data, so a
contribution reads "+0.31: callback regularity scores 0.97" or "-0.12: 1 different detector(s) saw it";
the intercept is the average score. When the sum leaves [0, 1] the score is bounded and the bound is
a term of its own, so the terms always sum exactly to the score. Models are JSON, portable between
lakes, and carry a version (hash of their parameters) that every score names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from winnow.triage.features import BY_NAME, NAMES

KNOTS = 4  # intervals per feature


def target(rating: float) -> float:
    """A 1..5 rating as a score in [0, 1]."""
    return (float(rating) - 1.0) / 4.0


@dataclass
class ExpertModel:
    features: tuple[str, ...] = NAMES
    knots: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    intercept: float = 0.5
    ratings: int = 0
    created_at: str = ""
    version: str = ""

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, rows: list[dict[str, float]], ratings: list[float], ridge: float = 0.05,
            iterations: int = 3000) -> ExpertModel:
        """Fit on feature dicts and their 1..5 ratings."""
        if not rows:
            raise ValueError("no ratings to fit")
        x = np.array([[float(r.get(f, 0.0)) for f in NAMES] for r in rows])
        y = np.array([target(r) for r in ratings])
        knots = {f: _knots(x[:, j], BY_NAME[f].low, BY_NAME[f].high) for j, f in enumerate(NAMES)}
        basis = np.hstack([_basis(x[:, j], knots[f]) for j, f in enumerate(NAMES)])
        w, b = _monotone_ridge(basis, y, ridge, iterations)
        model = cls(knots=knots, intercept=float(b), ratings=len(rows))
        for j, f in enumerate(NAMES):
            model.weights[f] = [float(v) for v in w[j * KNOTS:(j + 1) * KNOTS]]
        for j, f in enumerate(NAMES):  # center each shape on the fitting data: intercept = average score
            mean = float(np.mean([model._shape(f, v) for v in x[:, j]]))
            model.means[f] = mean
            model.intercept += mean
        model.created_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        model.version = model._hash()
        return model

    def _shape(self, name: str, value: float) -> float:
        return float(_basis(np.array([value]), self.knots[name])[0] @ np.array(self.weights[name]))

    def _hash(self) -> str:
        payload = json.dumps({"k": self.knots, "w": self.weights, "b": self.intercept}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ scoring
    def raw(self, features: dict[str, float]) -> float:
        return self.intercept + sum(self._shape(f, float(features.get(f, 0.0))) - self.means[f] for f in NAMES)

    def score(self, features: dict[str, float]) -> float:
        return self.explain(features)["score"]

    def raw_columns(self, columns: dict[str, np.ndarray], n: int) -> np.ndarray:
        """Unbounded scores of ``n`` entities given as one array per feature."""
        total = np.full(n, self.intercept)
        for f in NAMES:
            values = np.asarray(columns.get(f, np.zeros(n)), dtype=float)
            total += _basis(values, self.knots[f]) @ np.array(self.weights[f]) - self.means[f]
        return total

    def scores(self, rows: list[dict[str, float]], bounded: bool = True) -> np.ndarray:
        """Scores of many feature dicts at once (bounded to [0, 1]; unbounded ones order ties at the bounds)."""
        columns = {f: np.array([float(r.get(f, 0.0)) for r in rows]) for f in NAMES}
        total = self.raw_columns(columns, len(rows))
        return np.clip(total, 0.0, 1.0) if bounded else total

    def explain(self, features: dict[str, float]) -> dict[str, Any]:
        """Score in [0, 1], the model version, and terms that sum exactly to the score (largest first)."""
        terms = []
        for f in NAMES:
            value = float(features.get(f, 0.0))
            part = round(self._shape(f, value) - self.means[f], 6)
            if part != 0:
                terms.append({"feature": f, "value": round(value, 6), "contribution": part,
                              "text": f"{part:+.2f}: {BY_NAME[f].text(value)}"})
        terms.sort(key=lambda t: -abs(t["contribution"]))
        intercept = round(self.intercept, 6)
        raw = intercept + sum(t["contribution"] for t in terms)
        score = round(min(1.0, max(0.0, raw)), 6)
        out = [{"feature": "(average)", "value": None, "contribution": intercept,
                "text": f"{intercept:+.2f}: the average rated scenario"}] + terms
        bound = round(score - raw, 6)
        if bound:
            out.append({"feature": "(bounded to [0, 1])", "value": None, "contribution": bound,
                        "text": f"{bound:+.2f}: scores stay within [0, 1]"})
        out[0]["contribution"] = round(score - sum(t["contribution"] for t in out[1:]), 6)  # exact sum
        return {"score": score, "raw": round(raw, 6), "model": self.version, "contributions": out}

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "winnow-expert-model", "version": self.version, "created_at": self.created_at,
                "ratings": self.ratings, "features": list(self.features), "knots": self.knots,
                "weights": self.weights, "means": self.means, "intercept": self.intercept}

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> ExpertModel:
        from winnow.errors import WinnowError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WinnowError(f"{path}: not a model file ({exc})") from None
        if not isinstance(data, dict) or data.get("kind") != "winnow-expert-model":
            raise WinnowError(f"{path}: not a Winnow expert model (no kind: winnow-expert-model)")
        unknown = set(data.get("features") or ()) - set(NAMES)
        if unknown:
            raise WinnowError(f"{path}: features this version does not know: {sorted(unknown)}")
        try:
            model = cls(knots={k: [float(v) for v in vs] for k, vs in data["knots"].items()},
                        weights={k: [float(v) for v in vs] for k, vs in data["weights"].items()},
                        means={k: float(v) for k, v in data["means"].items()},
                        intercept=float(data["intercept"]), ratings=int(data["ratings"]),
                        created_at=str(data["created_at"]), version=str(data["version"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WinnowError(f"{path}: a damaged model file ({type(exc).__name__}: {exc})") from None
        for f in NAMES:  # a feature added since the model was made: flat, no contribution
            model.knots.setdefault(f, [0.0, 1.0] + [1.0] * (KNOTS - 1))
            model.weights.setdefault(f, [0.0] * KNOTS)
            model.means.setdefault(f, 0.0)
        return model


def models_folder(lake_root: Path) -> Path:
    return Path(lake_root) / "models"


def save_model(lake_root: Path, model: ExpertModel) -> Path:
    return model.save(models_folder(lake_root) / f"expert-{model.created_at.replace(':', '')}-{model.version}.json")


def load_model(lake_root: Path) -> ExpertModel | None:
    """The newest model saved in the lake, or None."""
    folder = models_folder(lake_root)
    files = sorted(folder.glob("expert-*.json")) if folder.is_dir() else []
    return ExpertModel.load(files[-1]) if files else None


def committee(rows: list[dict[str, float]], ratings: list[float], members: int = 7, seed: int = 0) -> list[ExpertModel]:
    """Models fitted on bootstrap resamples: where they disagree, the model is unsure."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(members):
        pick = rng.integers(0, len(rows), len(rows))
        out.append(ExpertModel.fit([rows[i] for i in pick], [ratings[i] for i in pick], iterations=400))
    return out


# ---------------------------------------------------------------------- numerics
def _knots(values: np.ndarray, low: float, high: float) -> list[float]:
    """KNOTS + 1 increasing knots: quantiles of the data, spread over the feature's range where data is thin."""
    lo, hi = min(low, float(values.min())), max(high, float(values.max()))
    qs = np.quantile(values, np.linspace(0, 1, KNOTS + 1)) if len(values) else np.array([])
    even = np.linspace(lo, hi, KNOTS + 1)
    knots = sorted(set(np.round(np.concatenate([qs, even]), 9)))
    # keep KNOTS + 1 of them, evenly over the sorted set, always the ends
    idx = np.round(np.linspace(0, len(knots) - 1, KNOTS + 1)).astype(int)
    chosen = [float(knots[i]) for i in idx]
    for i in range(1, len(chosen)):  # strictly increasing
        if chosen[i] <= chosen[i - 1]:
            chosen[i] = chosen[i - 1] + 1e-6
    return chosen


def _basis(values: np.ndarray, knots: list[float]) -> np.ndarray:
    k = np.array(knots)
    width = np.diff(k)
    return np.clip((values[:, None] - k[None, :-1]) / width[None, :], 0.0, 1.0)


def _monotone_ridge(basis: np.ndarray, y: np.ndarray, ridge: float, iterations: int) -> tuple[np.ndarray, float]:
    """min ||B w + b - y||^2 / n + ridge ||w||^2 subject to w >= 0 (accelerated projected gradient)."""
    n, p = basis.shape
    b = float(y.mean())
    w = np.zeros(p)
    z, zb, t = w.copy(), b, 1.0
    lipschitz = 2 * (np.linalg.norm(basis, 2) ** 2 / n + ridge + 1.0)
    step = 1.0 / lipschitz
    for _ in range(iterations):
        residual = basis @ z + zb - y
        grad_w = 2 * basis.T @ residual / n + 2 * ridge * z
        grad_b = 2 * residual.mean()
        w_next = np.maximum(0.0, z - step * grad_w)
        b_next = zb - step * grad_b
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        z = w_next + (t - 1) / t_next * (w_next - w)
        zb = b_next + (t - 1) / t_next * (b_next - b)
        w, b, t = w_next, b_next, t_next
    return w, b

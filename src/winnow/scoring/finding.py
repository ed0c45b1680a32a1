"""The finding: one suspicious entity from one detector over one window (docs/ARCHITECTURE.md, "Findings")."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

#: the exact fields of a finding, in output order
FINDING_FIELDS = (
    "detector", "score", "severity", "entity", "src", "dst", "dport", "host", "user",
    "first_seen", "last_seen", "components", "evidence", "why",
)

_SEVERITY = ((0.8, "high"), (0.6, "medium"), (0.4, "low"))


def severity_for(score: float) -> str:
    """high >= 0.8 > medium >= 0.6 > low >= 0.4 > info."""
    for threshold, name in _SEVERITY:
        if score >= threshold:
            return name
    return "info"


def _clean(value: Any) -> Any:
    """JSON-safe evidence values: finite floats rounded, datetimes as ISO-8601 UTC."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    return value


def iso(value: dt.datetime | None) -> str | None:
    """``2026-11-02T00:00:03.250000Z`` form (microseconds only when present)."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


@dataclass(frozen=True)
class Finding:
    """A finding. ``why`` is rendered by the detector from ``components`` and ``evidence``."""

    detector: str
    score: float
    entity: str
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    components: dict[str, float]
    evidence: dict[str, Any]
    why: str
    src: str | None = None
    dst: str | None = None
    dport: int | None = None
    host: str | None = None
    user: str | None = None
    severity: str = field(default="")

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0 or math.isnan(self.score):
            raise ValueError(f"score {self.score} of {self.detector} finding is outside [0, 1]")
        object.__setattr__(self, "score", round(float(self.score), 6))
        object.__setattr__(self, "components", _clean(self.components))
        object.__setattr__(self, "evidence", _clean(self.evidence))
        if not self.severity:
            object.__setattr__(self, "severity", severity_for(self.score))

    def to_dict(self) -> dict[str, Any]:
        """The finding as the JSON contract: exactly :data:`FINDING_FIELDS`."""
        out = {name: getattr(self, name) for name in FINDING_FIELDS}
        out["first_seen"] = iso(self.first_seen)
        out["last_seen"] = iso(self.last_seen)
        return out

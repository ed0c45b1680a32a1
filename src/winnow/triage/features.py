"""What an analyst weighs about an entity, as numbers the expert model can learn from.

Each feature is computed from an entity's risk (:meth:`winnow.risk.combine.EntityRisk.to_dict`), so a
real entity, a finding and a synthetic scenario are all described the same way. Every feature is
defined so that, other things equal, a larger value is never *less* suspicious (the model keeps its
shapes monotone); what makes an entity benign is a small value, not a negative one.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from winnow.risk.combine import FAMILIES


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    low: float
    high: float
    render: str  # format of the value in a sentence, with {v}

    def text(self, value: float) -> str:
        return self.render.format(v=value, n=round(math.expm1(value)) if "{n}" in self.render else 0)


FEATURES: tuple[Feature, ...] = (
    Feature("max_score", "the strongest single finding's score", 0, 1, "its strongest finding scores {v:.2f}"),
    Feature("detectors", "how many different detectors saw it", 1, 8, "{v:.0f} different detector(s) saw it"),
    Feature("families", "how many independent kinds of data (network, endpoint, identity, alerts, intel) agree",
            1, 5, "{v:.0f} independent kind(s) of data agree"),
    Feature("findings", "how many findings (log scale)", 0, 6, "{n} finding(s)"),
    Feature("beacon", "best beacon (scheduled callback) score", 0, 1, "callback regularity scores {v:.2f}"),
    Feature("rare", "best rare-destination score", 0, 1, "rare-destination score {v:.2f}"),
    Feature("failures", "best scan/fumbling score (failed activity)", 0, 1, "failed-activity score {v:.2f}"),
    Feature("identity", "best identity-attack score (spraying, roasting, DCSync, lateral movement)", 0, 1,
            "identity-attack score {v:.2f}"),
    Feature("endpoint", "best endpoint score (Sigma rules)", 0, 1, "endpoint-rule score {v:.2f}"),
    Feature("alerts", "best IDS alert or threat-intel match score", 0, 1, "IDS/intel score {v:.2f}"),
    Feature("process", "1 when an unusual process is named behind the traffic (outside system folders)", 0, 1,
            "{v:.0f} = an unusual process is named"),
    Feature("context", "1 when the entity is a critical asset or a privileged account", 0, 1,
            "{v:.0f} = critical asset or privileged account"),
    Feature("span", "hours between its first and last finding (log scale)", 0, 5,
            "active over {n} hour(s)"),
)
NAMES = tuple(f.name for f in FEATURES)
BY_NAME = {f.name: f for f in FEATURES}

_GROUPS = {
    "beacon": {"beacon"}, "rare": {"rare_dest", "dns_tunnel"}, "failures": {"scan", "fumbling", "long_conn"},
    "identity": {d for d, fam in FAMILIES.items() if fam == "identity"},
    "endpoint": {d for d, fam in FAMILIES.items() if fam == "endpoint"},
    "alerts": {"ids", "intel"},
}
_SYSTEM = ("c:\\windows\\", "c:\\program files", "/usr/", "/bin/", "/sbin/", "/lib/", "/opt/google/", "/snap/")


def entity_features(risk: dict[str, Any]) -> dict[str, float]:
    """The features of one entity from its risk dict (``winnow risk --format jsonl`` object)."""
    findings = [c for c in risk.get("contributions", []) if c.get("kind") == "finding"]
    out = {name: 0.0 for name in NAMES}
    if not findings:
        return out
    out["max_score"] = max(float(c["finding_score"]) for c in findings)
    detectors = {c["detector"] for c in findings}
    out["detectors"] = float(len(detectors))
    out["families"] = float(len({FAMILIES.get(d, d) for d in detectors}))
    out["findings"] = math.log1p(len(findings))
    for group, members in _GROUPS.items():
        out[group] = max((float(c["finding_score"]) for c in findings if c["detector"] in members), default=0.0)
    out["process"] = 1.0 if any(_unusual(c.get("why") or "") for c in findings) else 0.0
    out["context"] = 1.0 if any(c.get("kind") == "modifier" for c in risk.get("contributions", [])) else 0.0
    times = [t for c in findings for t in (c.get("first_seen"), c.get("last_seen")) if t]
    if times:
        parse = [dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
        out["span"] = math.log1p((max(parse) - min(parse)).total_seconds() / 3600)
    return out


def _unusual(why: str) -> bool:
    """A 'made by IMAGE' clause naming a program outside the system and vendor folders."""
    marker = "made by "
    if marker not in why:
        return False
    image = why.split(marker, 1)[1].split(" (pid", 1)[0].strip().lower()
    return bool(image) and not image.startswith(_SYSTEM)


def describe(features: dict[str, float]) -> list[str]:
    """The features in words, strongest first (for a rating card)."""
    lines = []
    for feature in FEATURES:
        value = features.get(feature.name, 0.0)
        if value > 0:
            lines.append(f"{feature.description}: {feature.text(value)}")
    return lines

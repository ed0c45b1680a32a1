"""Allow-lists and suppressions, applied when findings are read — never by deleting data.

Rules live in ``<lake>/suppressions.toml`` (or a file given with ``--suppressions``)::

    [[rule]]
    cidr = "203.0.113.0/24"       # matches the finding's src, dst or host address
    reason = "partner VPN"
    factor = 0.1                  # score multiplier; 0 hides the finding (default 0)
    detectors = ["beacon"]        # optional: only these detectors

    [[rule]]
    domain = "windowsupdate.com"  # matches the name in evidence (server_name, domain) and subdomains
    reason = "OS updates"

    [[rule]]
    ja3 = "e0fe397a5edfba9a6facc7c7b341f4eb"
    reason = "EDR agent"

A finding that matches keeps its stored score; the score shown is multiplied by the lowest
factor of the rules it matches, and ``evidence.suppressed_by`` names each rule with the score
before it, so an analyst always sees why a score is low and can undo it by editing the file.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.errors import WinnowError
from winnow.scoring.finding import severity_for

FILE_NAME = "suppressions.toml"
_NAME_KEYS = ("server_name", "domain", "host_name", "sni")
_JA3_KEYS = ("ja3", "ja3s")


@dataclass(frozen=True)
class Rule:
    """One allow-list entry: at least one of ``cidr``, ``domain``, ``ja3``."""

    reason: str
    cidr: str | None = None
    domain: str | None = None
    ja3: str | None = None
    factor: float = 0.0
    detectors: tuple[str, ...] = field(default_factory=tuple)

    def matches(self, finding: dict[str, Any]) -> bool:
        if self.detectors and finding.get("detector") not in self.detectors:
            return False
        evidence = finding.get("evidence") or {}
        if self.cidr is not None:
            network = ipaddress.ip_network(self.cidr, strict=False)
            addresses = [finding.get(k) for k in ("src", "dst", "host")]
            if not any(_in(a, network) for a in addresses):
                return False
        if self.domain is not None:
            wanted = self.domain.lower().strip(".")
            names = [str(evidence.get(k) or "").lower().strip(".") for k in _NAME_KEYS]
            names.append(str(finding.get("dst") or "").lower())
            if not any(n == wanted or n.endswith("." + wanted) for n in names if n):
                return False
        if self.ja3 is not None and self.ja3.lower() not in {str(evidence.get(k) or "").lower() for k in _JA3_KEYS}:
            return False
        return True

    @property
    def label(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in (("cidr", self.cidr), ("domain", self.domain), ("ja3", self.ja3)) if v)
        return f"{what} ({self.reason})"


def _in(address: Any, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(str(address)) in network
    except ValueError:
        return False


def load_rules(path: Path) -> list[Rule]:
    """Rules from a TOML file; [] when it does not exist; a user error naming the problem when malformed."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WinnowError(f"{path}: not valid TOML ({exc})") from None
    rules = []
    for i, entry in enumerate(data.get("rule", []), start=1):
        if not isinstance(entry, dict) or not any(k in entry for k in ("cidr", "domain", "ja3")):
            raise WinnowError(f"{path}: rule {i} needs one of cidr, domain, ja3")
        unknown = set(entry) - {"cidr", "domain", "ja3", "reason", "factor", "detectors"}
        if unknown:
            raise WinnowError(f"{path}: rule {i} has unknown keys: {', '.join(sorted(unknown))}")
        try:
            if "cidr" in entry:
                ipaddress.ip_network(str(entry["cidr"]), strict=False)
            factor = float(entry.get("factor", 0.0))
        except ValueError as exc:
            raise WinnowError(f"{path}: rule {i}: {exc}") from None
        if not 0.0 <= factor <= 1.0:
            raise WinnowError(f"{path}: rule {i}: factor must be between 0 and 1")
        rules.append(Rule(reason=str(entry.get("reason", "")), cidr=entry.get("cidr"), domain=entry.get("domain"),
                          ja3=entry.get("ja3"), factor=factor, detectors=tuple(entry.get("detectors", ()))))
    return rules


def apply(findings: list[dict[str, Any]], rules: list[Rule]) -> tuple[list[dict[str, Any]], int]:
    """Findings with suppressed scores, highest score first, and how many a factor of 0 hid."""
    if not rules:
        return findings, 0
    out = []
    hidden = 0
    for finding in findings:
        hits = [r for r in rules if r.matches(finding)]
        if not hits:
            out.append(finding)
            continue
        factor = min(r.factor for r in hits)
        if factor == 0.0:
            hidden += 1
            continue
        changed = dict(finding)
        changed["evidence"] = dict(finding.get("evidence") or {})
        changed["evidence"]["suppressed_by"] = [
            {"rule": r.label, "factor": r.factor, "score_before": finding["score"]} for r in hits
        ]
        changed["score"] = round(finding["score"] * factor, 6)
        changed["severity"] = severity_for(changed["score"])
        changed["why"] = f"{finding['why']} [allow-listed: {hits[0].label}, score x{factor}]"
        out.append(changed)
    out.sort(key=lambda f: (-f["score"], f["detector"], f["entity"]))
    return out, hidden

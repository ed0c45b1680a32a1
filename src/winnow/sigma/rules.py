"""A folder of Sigma rules, parsed by pySigma and compiled; every rule left out is a located :class:`Problem`.

Each ``.yml``/``.yaml`` file is parsed on its own (a YAML error costs that file only), then correlation
rules are resolved against all the rules of the folder. A rule that does not compile (unknown modifier,
unmapped logsource or field, regular expression one engine cannot run...) is a problem with its file, its
title and a short reason that ``winnow sigma --check`` counts: never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from winnow.sigma.compile import CompiledRule, compile_rule
from winnow.sigma.correlate import base_ids
from winnow.sigma.logsources import Unsupported


@dataclass(frozen=True)
class Problem:
    """Why one rule (or file) cannot run: ``reason`` is a countable label, ``detail`` the exact message."""

    path: str
    title: str
    reason: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.title}" if self.title else self.path
        return f"{where}: {self.reason}: {self.detail}"


@dataclass
class RuleSet:
    """The compiled rules of a folder, its correlation rules and the problems."""

    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # rule id -> file

    @property
    def total(self) -> int:
        """Rules seen: compiled, correlations and problems with a rule."""
        return len(self.rules) + len(self.correlations) + len(self.problems)

    def reasons(self) -> Counter:
        """Problems counted by reason."""
        return Counter(p.reason for p in self.problems)


def rule_files(folder: Path) -> list[Path]:
    """The rule files under ``folder`` (or ``folder`` itself when it is a file), sorted."""
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_rules(folder: Path | str | list[Path]) -> RuleSet:
    """Parse and compile every rule under ``folder`` (or in a list of files)."""
    out = RuleSet()
    parsed: list[tuple[str, SigmaRule | SigmaCorrelationRule]] = []
    files = list(folder) if isinstance(folder, list) else rule_files(Path(folder))
    for path in files:
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8", errors="replace"),
                                                   collect_errors=True)
        except (SigmaError, yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
            out.problems.append(Problem(str(path), "", "bad file", _one_line(exc)))
            continue
        for rule in collection.rules:
            errors = getattr(rule, "errors", [])
            if errors:
                out.problems.append(Problem(str(path), _title(rule), _error_reason(errors[0]), _one_line(errors[0])))
                continue
            parsed.append((str(path), rule))
    for path, rule in parsed:
        if isinstance(rule, SigmaCorrelationRule):
            continue
        out.paths[str(rule.id)] = path
        try:
            out.rules.append(compile_rule(rule))
        except Unsupported as exc:
            out.problems.append(Problem(path, _title(rule), exc.reason, exc.detail))
        except SigmaError as exc:
            out.problems.append(Problem(path, _title(rule), _error_reason(exc), _one_line(exc)))
    _resolve_correlations(out, parsed)
    return out


def _resolve_correlations(out: RuleSet, parsed: list[tuple[str, SigmaRule | SigmaCorrelationRule]]) -> None:
    correlations = [(p, r) for p, r in parsed if isinstance(r, SigmaCorrelationRule)]
    if not correlations:
        return
    collection = SigmaCollection([r for _, r in parsed])
    for path, rule in correlations:
        try:
            rule.resolve_rule_references(collection)
        except SigmaError as exc:
            out.problems.append(Problem(path, _title(rule), "unresolved correlation", _one_line(exc)))
            continue
        problem = _prepare_correlation(out, rule)
        if problem:
            out.problems.append(Problem(path, _title(rule), "unsupported correlation", problem))
        else:
            out.correlations.append(rule)


def _prepare_correlation(out: RuleSet, corr: SigmaCorrelationRule) -> str:
    """Ask the base rules to return the fields the correlation groups and counts by; '' or what is wrong."""
    if getattr(corr, "aliases", None) and len(corr.aliases):
        return "field aliases are not supported"
    if corr.timespan is None:
        return "no timespan"
    compiled = {r.rule_id: r for r in out.rules}
    fields = list(corr.group_by or [])
    if corr.type.name.lower() == "value_count" and corr.condition.fieldref:
        fields.append(corr.condition.fieldref)
    for rule_id in base_ids(corr):
        if rule_id not in compiled:
            return f"base rule {rule_id} did not compile"
        for name in fields:
            try:
                compiled[rule_id].output(name)
            except Unsupported as exc:
                return str(exc)
    return ""


def _title(rule: object) -> str:
    return str(getattr(rule, "title", "") or getattr(rule, "id", "") or "")


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:300]


def _error_reason(exc: object) -> str:
    """A countable label from a pySigma error class: SigmaModifierError -> 'modifier error'."""
    name = type(exc).__name__.removeprefix("Sigma").removesuffix("Error")
    words = "".join(" " + c.lower() if c.isupper() else c for c in name).strip()
    return f"{words} error" if words else "sigma error"

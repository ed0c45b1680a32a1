"""A Sigma rule's parsed condition (pySigma's condition tree, modifiers applied) as one Ibis predicate.

pySigma parses the detection: every value modifier is already applied to the values (``contains`` is a
``*x*`` wildcard string, ``windash`` and ``base64offset`` an expansion into alternatives, ``cidr`` a
network, ``re`` a regular expression, ``gt``/``lt`` a comparison...) and ``1 of selection*`` / ``all of
them`` are resolved into AND/OR nodes. :func:`compile_rule` walks that tree once and returns a
:class:`CompiledRule` whose :meth:`~CompiledRule.predicate` builds the boolean expression over a table of
projected fields (see :mod:`winnow.sigma.scan`): every field the rule reads is a text column, and its lower
case twin for Sigma's case-insensitive matching. A leaf is false (never null) when its field is absent, so
``not`` behaves as Sigma says.

Strings match case-insensitively (``cased`` keeps the case); wildcards ``*`` and ``?`` become prefix,
suffix, substring tests or an anchored regular expression; regular expressions keep their case unless
flagged ``i``, and must use what both RE2 (DuckDB) and Java (Spark) accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from winnow.sigma.logsources import Source, Unsupported, source_for

#: the pseudo-field keywords (values without a field) are searched in
KEYWORDS = "@keywords"

#: a field as the scan projects it: ("column", name) or ("json", keys tried in order)
FieldKey = tuple[str, Any]
#: ``get(field_key, lower)`` -> the projected text column (lower-cased when asked)
Getter = Callable[[FieldKey, bool], ir.StringValue]
Builder = Callable[[Getter], ir.BooleanValue]

_REGEX_META = set("\\.^$|?*+()[]{}")
#: regular-expression syntax RE2 (DuckDB) rejects: look-around, back-references, atomic groups, possessive
_NOT_PORTABLE = re.compile(r"\(\?<?[=!]|\(\?>|\\[1-9]|[*+?}]\+")


@dataclass
class CompiledRule:
    """One runnable rule: where it reads and the predicate that selects its events."""

    rule: SigmaRule
    source: Source
    build: Builder
    fields: set[FieldKey] = field(default_factory=set)
    outputs: dict[str, FieldKey] = field(default_factory=dict)  # Sigma field -> key, returned with each match

    def output(self, name: str) -> None:
        """Return the field ``name`` with every matched event (``x_<name>``; correlation rules group by it)."""
        key = self.source.column(name)
        self.fields.add(key)
        self.outputs[name] = key

    @property
    def rule_id(self) -> str:
        return str(self.rule.id) if self.rule.id else self.rule.title

    def predicate(self, get: Getter) -> ir.BooleanValue:
        """The rule's boolean expression over projected fields (``get``): one Ibis expression per rule."""
        return self.build(get)


def any_of(exprs: list[ir.BooleanValue]) -> ir.BooleanValue:
    """OR of ``exprs`` as a balanced tree (a left-deep chain of thousands overflows Ibis's recursion)."""
    return _balanced(exprs, ibis.or_)


def all_of(exprs: list[ir.BooleanValue]) -> ir.BooleanValue:
    """AND of ``exprs`` as a balanced tree."""
    return _balanced(exprs, ibis.and_)


def _balanced(exprs: list[ir.BooleanValue], join: Callable) -> ir.BooleanValue:
    if len(exprs) == 1:
        return exprs[0]
    middle = len(exprs) // 2
    return join(_balanced(exprs[:middle], join), _balanced(exprs[middle:], join))


def compile_rule(rule: SigmaRule) -> CompiledRule:
    """Compile ``rule``; :class:`Unsupported` (reason, detail) when it cannot run on the lake."""
    ls = rule.logsource
    source = source_for(ls.product, ls.category, ls.service)
    compiler = _Compiler(source)
    try:
        conditions = [c.parsed for c in rule.detection.parsed_condition]
    except Exception as exc:  # noqa: BLE001 - pySigma raises many error types for bad conditions
        raise Unsupported("bad condition", str(exc)) from exc
    builders = [compiler.node(c) for c in conditions]
    build: Builder = builders[0] if len(builders) == 1 else (lambda get: any_of([b(get) for b in builders]))
    return CompiledRule(rule, source, build, compiler.fields)


class _Compiler:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.fields: set[FieldKey] = set()

    def node(self, node: Any) -> Builder:
        if isinstance(node, ConditionOR):
            args, merged = _merge_alternatives(node.args)
            parts = [self.node(a) for a in args] + [self.alternation(name, lower, patterns)
                                                     for name, lower, patterns in merged]
            if len(parts) == 1:
                return parts[0]
            return lambda get: any_of([p(get) for p in parts])
        if isinstance(node, ConditionAND):
            parts = [self.node(a) for a in node.args]
            if len(parts) == 1:
                return parts[0]
            join = all_of if isinstance(node, ConditionAND) else any_of
            return lambda get: join([p(get) for p in parts])
        if isinstance(node, ConditionNOT):
            inner = self.node(node.args[0])
            return lambda get: ~inner(get)
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.value(self.key(node.field), node.value)
        if isinstance(node, ConditionValueExpression):
            self.fields.add((KEYWORDS, None))
            return self.keyword(node.value)
        raise Unsupported("unsupported condition", type(node).__name__)

    def alternation(self, name: str, lower: bool, patterns: list[str]) -> Builder:
        """Many values of one field as a few regular expressions (one per ``ALTERNATION`` values).

        A rule listing hundreds of hashes or paths would otherwise be hundreds of LIKE predicates, and
        planning such an expression costs more than scanning the events.
        """
        key = self.key(name)
        chunks = ["(?s)(?:" + "|".join(patterns[i:i + ALTERNATION]) + ")"
                  for i in range(0, len(patterns), ALTERNATION)]
        return lambda get: any_of([get(key, lower).re_search(c).fill_null(False) for c in chunks])

    def key(self, name: str) -> FieldKey:
        key = self.source.column(name)
        self.fields.add(key)
        return key

    def value(self, key: FieldKey, value: Any) -> Builder:
        if isinstance(value, SigmaExpansion):
            parts = [self.value(key, v) for v in value.values]
            return lambda get: any_of([p(get) for p in parts])
        if isinstance(value, SigmaString):
            return _string(key, value)
        if isinstance(value, SigmaNumber):
            text = str(value.number)
            return lambda get: (get(key, False) == text).fill_null(False)
        if isinstance(value, SigmaBool):
            text = "true" if value.boolean else "false"
            return lambda get: (get(key, True) == text).fill_null(False)
        if isinstance(value, SigmaNull):
            return lambda get: get(key, False).isnull() | (get(key, False) == "")
        if isinstance(value, SigmaExists):
            return (lambda get: get(key, False).notnull()) if value.exists else (lambda get: get(key, False).isnull())
        if isinstance(value, SigmaRegularExpression):
            return _regex(key, value)
        if isinstance(value, SigmaCIDRExpression):
            prefixes = [p.rstrip("*") for p in value.expand()]
            return lambda get: any_of([get(key, True).startswith(p.lower()) for p in prefixes]).fill_null(False)
        if isinstance(value, SigmaCompareExpression):
            return _compare(key, value)
        if isinstance(value, SigmaFieldReference):
            other = self.key(value.field)
            return lambda get: (get(key, True) == get(other, True)).fill_null(False)
        raise Unsupported("unsupported value", f"{type(value).__name__} value")

    def keyword(self, value: Any) -> Builder:
        """A keyword: searched in the whole event text (win.event: the event data JSON, escaped as JSON)."""
        if isinstance(value, SigmaExpansion):
            parts = [self.keyword(v) for v in value.values]
            return lambda get: any_of([p(get) for p in parts])
        if isinstance(value, SigmaNumber):
            value = SigmaString(str(value.number))
        if not isinstance(value, SigmaString):
            raise Unsupported("unsupported value", f"keyword of type {type(value).__name__}")
        escaped = value.map_parts(lambda p: p.replace("\\", "\\\\").replace('"', '\\"'), lambda p: isinstance(p, str))
        if self.source.table == "win.event" and not escaped.startswith(SpecialChars.WILDCARD_MULTI):
            escaped = SigmaString("*") + escaped
        if self.source.table == "win.event" and not escaped.endswith(SpecialChars.WILDCARD_MULTI):
            escaped = escaped + SigmaString("*")
        return _string((KEYWORDS, None), escaped)


def _string(key: FieldKey, value: SigmaString) -> Builder:
    if value.contains_placeholder():
        raise Unsupported("placeholder", "the rule has an unresolved %placeholder%")
    cased = isinstance(value, SigmaCasedString)
    star = SpecialChars.WILDCARD_MULTI
    parts = [p.lower() if isinstance(p, str) and not cased else p for p in value.s]
    lower = not cased
    if all(isinstance(p, str) for p in parts):
        text = "".join(parts)
        return lambda get: (get(key, lower) == text).fill_null(False)
    lead, trail = parts[0] == star, len(parts) > 1 and parts[-1] == star
    middle = parts[int(lead):len(parts) - int(trail)]
    if not middle:
        return lambda get: get(key, False).notnull()
    if len(middle) == 1 and isinstance(middle[0], str):
        text = middle[0]
        if lead and trail:
            return lambda get: get(key, lower).contains(text).fill_null(False)
        if lead:
            return lambda get: get(key, lower).endswith(text).fill_null(False)
        return lambda get: get(key, lower).startswith(text).fill_null(False)
    body = "".join(_escape(p) if isinstance(p, str) else (".*" if p == star else ".") for p in parts)
    pattern = "(?s)^" + body + "$"
    return lambda get: get(key, lower).re_search(pattern).fill_null(False)


#: values of one field an OR merges into one regular expression, at most this many per expression
ALTERNATION = 200
#: fewest values of one field in an OR worth merging
MERGE_FROM = 8


def _merge_alternatives(args: list[Any]) -> tuple[list[Any], list[tuple[str, bool, list[str]]]]:
    """Split an OR's arguments: those kept as they are, and (field, lower, patterns) groups to merge."""
    groups: dict[tuple[str, bool], list[tuple[Any, str]]] = {}
    for arg in args:
        if isinstance(arg, ConditionFieldEqualsValueExpression) and isinstance(arg.value, SigmaString):
            pattern = _pattern(arg.value)
            if pattern is not None:
                groups.setdefault((arg.field, pattern[1]), []).append((arg, pattern[0]))
    merged, taken = [], set()
    for (name, lower), members in groups.items():
        if len(members) >= MERGE_FROM:
            merged.append((name, lower, [p for _, p in members]))
            taken.update(id(a) for a, _ in members)
    return [a for a in args if id(a) not in taken], merged


def _pattern(value: SigmaString) -> tuple[str, bool] | None:
    """An unanchored-where-possible regular expression for a Sigma string, and whether it reads lower case."""
    if value.contains_placeholder():
        return None
    cased = isinstance(value, SigmaCasedString)
    star = SpecialChars.WILDCARD_MULTI
    parts = [p.lower() if isinstance(p, str) and not cased else p for p in value.s]
    lead = bool(parts) and parts[0] == star
    trail = len(parts) > 1 and parts[-1] == star
    middle = parts[int(lead):len(parts) - int(trail)]
    body = "".join(_escape(p) if isinstance(p, str) else (".*" if p == star else ".") for p in middle)
    return ("" if lead else "^") + body + ("" if trail else "$"), not cased


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _regex(key: FieldKey, value: SigmaRegularExpression) -> Builder:
    pattern = value.regexp.original if hasattr(value.regexp, "original") else str(value.regexp)
    if _NOT_PORTABLE.search(pattern):
        raise Unsupported("non-portable regex", f"{pattern!r} uses look-around, back-references or possessive "
                          "quantifiers, which RE2 (DuckDB) lacks")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise Unsupported("bad regex", f"{pattern!r}: {exc}") from exc
    flags = {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
             SigmaRegularExpressionFlag.DOTALL: "s"}
    inline = "".join(sorted(flags[f] for f in value.flags))
    pattern = pattern.replace("(?P<", "(?<")
    if inline:
        pattern = f"(?{inline})" + pattern
    return lambda get: get(key, False).re_search(pattern).fill_null(False)


def _compare(key: FieldKey, value: SigmaCompareExpression) -> Builder:
    number = float(value.number.number)
    op = value.op.name.lower()  # lt, lte, gt, gte

    def build(get: Getter) -> ir.BooleanValue:
        x = get(key, False).try_cast("float64")
        result = {"lt": x < number, "lte": x <= number, "gt": x > number, "gte": x >= number}[op]
        return result.fill_null(False)

    return build

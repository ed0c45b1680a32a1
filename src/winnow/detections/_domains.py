"""Registered domains (eTLD+1) by the Public Suffix List, and name statistics, as Ibis expressions and in Python.

The list is the copy bundled with the ``publicsuffixlist`` package (offline, updated with the
package), read once on first use. The algorithm is the list's own: the longest matching rule
wins, a wildcard rule ``*.ck`` makes every label under ``ck`` a suffix, an exception rule
``!www.ck`` takes one label back, names matching no rule fall under the implicit rule ``*`` (their
last label), and the registered domain is the public suffix plus one label.

Both sections of the list are used, ICANN and PRIVATE. The PRIVATE section holds suffixes under
which a provider hands names to its customers: dynamic DNS (``duckdns.org``), tunnels and edge
workers (``trycloudflare.com``, ``workers.dev``), hosting, storage and CDNs (``github.io``,
``s3.amazonaws.com``, ``*.compute.amazonaws.com``, ``cloudfront.net``, ``akamaiedge.net``). Each
customer name there has its own owner, and that owner is who a hunter needs to see: a tunnel or a
DGA run from a dynamic-DNS name groups under ``evil.duckdns.org``, not under the provider shared
with every other customer, so its fleet prevalence stays low (fumbling's damping, dns_tunnel's
rarity) instead of being diluted by the fleet's benign use of the provider; and thousands of
unrelated bucket, CDN or cloud-host names are not counted as "unique subdomains" of one provider
domain, which made them look like a tunnel. An attacker gains no cover from it: a tunnel's queries
must reach a name server the attacker runs, so they all sit below one name delegated to the
attacker, and that name is what they group under. The price is finer groups for cloud customers
(each bucket is its own domain). ``extra_suffixes`` adds rules in the list's syntax (a site's own
dynamic-DNS or hosting zones); none can be removed.

Edge cases, the same as before the list was used: a name that is itself a public suffix
(``co.uk``, ``com``, ``foo.ck``) and a single-label name (``wpad``, Chromium's random probes) are
their own registered domain, with no subdomain; '' stays ''. Only the labels after the last
empty label count (``a..b.example.com`` -> ``example.com``, ``.co.uk`` -> ``co.uk``). Names are
compared lower-cased without trailing dots; internationalized rules match both their Unicode and
punycode forms.

Cost: the expression cuts the last 1..k labels off the name (k = longest rule + 2) with a
start-anchored pattern on the reversed name, then runs one CASE, longest tail first. Sets of up to
:data:`LITERAL_SET_MAX` names are IN lists; larger ones are IN subqueries on small in-memory
tables, which DuckDB and Spark run as hash joins (inside a CASE, DuckDB scans a literal IN list of
thousands of names row by row). Detectors apply it to distinct names.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir


@dataclass(frozen=True)
class SuffixRules:
    """The rules of the list by kind and by number of labels (of the name part they test)."""

    exact: dict[int, frozenset[str]]
    """``co.uk``: the tested name is a public suffix."""
    wildcard: dict[int, frozenset[str]]
    """``ck`` for ``*.ck``: one label below the tested name is a public suffix."""
    exception: dict[int, frozenset[str]]
    """``www.ck`` for ``!www.ck``: the tested name minus its first label is the public suffix."""

    @property
    def depth(self) -> int:
        """Most labels of any rule (counting the ``*``), so the longest public suffix."""
        return max([*self.exact, *self.exception, *(d + 1 for d in self.wildcard)], default=1)


def _idna(rule: str) -> str:
    if rule.isascii():
        return rule
    try:
        return rule.encode("idna").decode("ascii")
    except UnicodeError:
        return rule


def parse_rules(lines: list[str]) -> SuffixRules:
    """Rules from lines in the list's format (``//`` comments, first word of a line, ``*.`` and ``!``)."""
    sets: dict[str, dict[int, set[str]]] = {"exact": {}, "wildcard": {}, "exception": {}}
    for line in lines:
        words = line.strip().lower().split()
        rule = words[0].strip(".") if words else ""
        if not rule or rule.startswith("//"):
            continue
        if rule.startswith("!"):
            kind, rule = "exception", rule[1:]
        elif rule.startswith("*."):
            kind, rule = "wildcard", rule[2:]
        else:
            kind = "exact"
        for form in {rule, _idna(rule)}:
            sets[kind].setdefault(form.count(".") + 1, set()).add(form)
    frozen = {kind: {d: frozenset(s) for d, s in by_depth.items()} for kind, by_depth in sets.items()}
    return SuffixRules(**frozen)


@lru_cache(maxsize=16)
def suffix_rules(extra_suffixes: tuple[str, ...] = ()) -> SuffixRules:
    """The bundled Public Suffix List (both sections) plus ``extra_suffixes`` (same syntax as the list)."""
    from publicsuffixlist import PSLFILE

    with open(PSLFILE, encoding="utf-8") as f:
        return parse_rules([*f, *extra_suffixes])


def public_length(labels: list[str], rules: SuffixRules) -> int:
    """How many of the last ``labels`` form the public suffix (1 when no rule matches)."""
    n = len(labels)
    for d in range(min(n, rules.depth), 0, -1):
        tail = ".".join(labels[-d:])
        if tail in rules.exception.get(d, ()):
            return d - 1
        if tail in rules.wildcard.get(d, ()):
            return d + 1
        if tail in rules.exact.get(d, ()):
            return d
    return 1


def normalized_name(query: ir.StringValue) -> ir.StringValue:
    """The queried name lower-cased without trailing dots."""
    return query.lower().re_replace(r"\.+$", "")


def registered_domain(name: ir.StringValue, extra_suffixes: tuple[str, ...] = ()) -> ir.StringValue:
    """Ibis expression: the registered domain of a normalized ``name`` (see the module docstring)."""
    rules = suffix_rules(tuple(extra_suffixes))
    # last[d]: the last d labels, or all the name's labels when it has fewer ('' only for ''), cut
    # from the reversed name, where a start-anchored pattern never backtracks in Java's regex engine
    reversed_name = name.reverse()
    last = {
        d: reversed_name.re_extract(rf"^[^.]+(?:\.[^.]+){{0,{d - 1}}}", 0).reverse()
        for d in range(1, rules.depth + 3)
    }
    # one CASE in the list's order of precedence: longer tails first; at one length a single test
    # against every rule of that length, then (only for the names it matched) which kind of rule
    branches = []
    for d in range(rules.depth, 0, -1):
        kinds = [
            (rules.exception.get(d, frozenset()), last[d]),
            (rules.wildcard.get(d, frozenset()), last[d + 2]),
            (rules.exact.get(d, frozenset()) if d > 1 else frozenset(), last[d + 1]),  # one label: the default
        ]
        kinds = [(names, result) for names, result in kinds if names]
        if not kinds:
            continue
        *tests, (_, otherwise) = kinds
        which = _cases([(_member(last[d], names), result) for names, result in tests], otherwise)
        branches.append((_member(last[d], frozenset().union(*(names for names, _ in kinds))), which))
    return _cases(branches, last[2])


#: sets up to this size are tested as IN lists (a linear scan on DuckDB), larger ones as IN subqueries
#: against a small in-memory table (a hash join on both engines)
LITERAL_SET_MAX = 128


def _member(value: ir.StringValue, names: frozenset[str]) -> ir.BooleanValue:
    if len(names) <= LITERAL_SET_MAX:
        return value.isin(sorted(names))
    return value.isin(_name_table(names).name)


@lru_cache(maxsize=64)
def _name_table(names: frozenset[str]) -> ir.Table:
    import ibis
    import pyarrow as pa

    return ibis.memtable(pa.table({"name": pa.array(sorted(names), pa.string())}))


def _cases(branches: list[tuple[ir.BooleanValue, ir.StringValue]], otherwise: ir.StringValue) -> ir.StringValue:
    import ibis

    return ibis.cases(*branches, else_=otherwise) if branches else otherwise


def subdomain(name: ir.StringValue, domain: ir.StringValue) -> ir.StringValue:
    """Ibis expression: the part of ``name`` before ``.domain`` ('' for the domain itself)."""
    import ibis

    cut = name.length() - domain.length() - 1
    return ibis.cases((cut > 0, name.substr(0, cut)), else_=ibis.literal(""))


def registered_domain_py(name: str, extra_suffixes: tuple[str, ...] = ()) -> str:
    """The same rule in Python (for tests and for explaining a finding)."""
    name = name.lower().rstrip(".")
    labels = name.split(".")
    if "" in labels:
        labels = labels[len(labels) - labels[::-1].index(""):]
    return ".".join(labels[-public_length(labels, suffix_rules(tuple(extra_suffixes))) - 1:])


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text`` in bits per character (0 for '')."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())

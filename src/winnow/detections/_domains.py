"""Registered domains (a practical eTLD+1) and name statistics, as Ibis expressions and in Python.

The registered domain of a name is its last two labels, or its last three when the last two are
a public suffix from a small built-in list (``co.uk``, ``com.au``, ...). It is not the full Public
Suffix List (no network download, no private suffixes): good enough to group the names a tunnel
generates under the domain its operator registered. Single-label names (``wpad``, Chromium's
random probes) are their own registered domain with no subdomain.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: second-level public suffixes: under these the registered domain takes three labels
PUBLIC_SUFFIXES: frozenset[str] = frozenset(
    f"{second}.{tld}"
    for tld, seconds in {
        "uk": "co org me ltd plc net sch ac gov nhs police",
        "au": "com net org edu gov asn id",
        "nz": "co net org ac govt school geek",
        "jp": "co ne or ac go ad ed gr lg",
        "kr": "co ne or ac go re",
        "za": "co org net ac gov web",
        "br": "com net org gov edu art blog",
        "cn": "com net org gov edu ac",
        "hk": "com net org gov edu idv",
        "tw": "com net org gov edu idv",
        "in": "co net org gov ac res firm gen ind",
        "il": "co org net ac gov muni",
        "sg": "com net org gov edu per",
        "my": "com net org gov edu name",
        "id": "co or ac go web net sch",
        "th": "co or ac go in net",
        "mx": "com net org gob edu",
        "ar": "com net org gob edu int",
        "tr": "com net org gov edu biz info av gen web",
        "ua": "com net org gov edu in",
        "ru": "com net org msk spb",
        "pl": "com net org waw",
        "es": "com org nom gob edu",
        "fr": "asso com gouv nom",
        "vn": "com net org gov edu",
        "ph": "com net org gov edu",
        "pk": "com net org gov edu",
        "ng": "com net org gov edu",
        "eg": "com net org gov edu",
        "sa": "com net org gov edu",
        "co": "com net org gov edu",
        "pe": "com net org gob edu",
        "ve": "com net org gob edu",
    }.items()
    for second in seconds.split()
)


def normalized_name(query: ir.StringValue) -> ir.StringValue:
    """The queried name lower-cased without trailing dots."""
    return query.lower().re_replace(r"\.+$", "")


def registered_domain(name: ir.StringValue, extra_suffixes: tuple[str, ...] = ()) -> ir.StringValue:
    """Ibis expression: the registered domain of a normalized ``name`` (see the module docstring)."""
    import ibis

    suffixes = sorted(PUBLIC_SUFFIXES | {s.lower().strip(".") for s in extra_suffixes})
    last2 = name.re_extract(r"([^.]+\.[^.]+)$", 1)
    last3 = name.re_extract(r"([^.]+\.[^.]+\.[^.]+)$", 1)
    return ibis.cases(
        (last2 == "", name),
        (last2.isin(suffixes) & (last3 != ""), last3),
        else_=last2,
    )


def subdomain(name: ir.StringValue, domain: ir.StringValue) -> ir.StringValue:
    """Ibis expression: the part of ``name`` before ``.domain`` ('' for the domain itself)."""
    import ibis

    cut = name.length() - domain.length() - 1
    return ibis.cases((cut > 0, name.substr(0, cut)), else_=ibis.literal(""))


def registered_domain_py(name: str, extra_suffixes: tuple[str, ...] = ()) -> str:
    """The same rule in Python (for tests and for explaining a finding)."""
    labels = name.lower().rstrip(".").split(".")
    suffixes = PUBLIC_SUFFIXES | {s.lower().strip(".") for s in extra_suffixes}
    if len(labels) >= 3 and ".".join(labels[-2:]) in suffixes:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text`` in bits per character (0 for '')."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())

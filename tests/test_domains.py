"""Registered domains by the Public Suffix List: known answers, the Ibis expression against the Python
reference on both engines, and the reference against ``publicsuffixlist`` on real DNS names."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import ibis
import pytest

from winnow.detections._domains import (
    normalized_name,
    parse_rules,
    public_length,
    registered_domain,
    registered_domain_py,
    subdomain,
)
from winnow.engine import connect

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]

#: raw query -> registered domain, each a case the list's algorithm or our normalization must get right
TRICKY = {
    "a.b.example.com": "example.com",
    "example.com": "example.com",
    "x.shop.co.uk.": "shop.co.uk",  # two-label ICANN suffix, trailing dot
    "Mail.Shop.CO.UK..": "shop.co.uk",  # upper case, trailing dots
    "WWW.Example.COM": "example.com",
    "co.uk": "co.uk",  # a name that is a public suffix is its own registered domain
    "com": "com",
    "wpad": "wpad",  # single label
    "": "",
    "a.b.c.ck": "b.c.ck",  # wildcard *.ck
    "c.ck": "c.ck",  # a public suffix by the wildcard
    "ck": "ck",  # the wildcard's implicit root
    "a.www.ck": "www.ck",  # exception !www.ck
    "www.ck": "www.ck",
    "x.city.kobe.jp": "city.kobe.jp",  # exception !city.kobe.jp under *.kobe.jp
    "x.y.other.kobe.jp": "y.other.kobe.jp",
    "kobe.jp": "kobe.jp",
    "a.b.pref.sch.uk": "b.pref.sch.uk",  # wildcard under a two-label suffix (*.sch.uk)
    "data.tunnel.evil.duckdns.org": "evil.duckdns.org",  # PRIVATE: dynamic DNS
    "duckdns.org": "duckdns.org",
    "a.user.github.io": "user.github.io",  # PRIVATE: hosting
    "a.b.bucket.s3.amazonaws.com": "bucket.s3.amazonaws.com",  # PRIVATE: storage
    "x.ec2-1-2-3-4.compute-1.amazonaws.com": "x.ec2-1-2-3-4.compute-1.amazonaws.com",  # PRIVATE wildcard
    "ec2-1-2-3-4.compute-1.amazonaws.com": "ec2-1-2-3-4.compute-1.amazonaws.com",
    # the longest rule in the list (*.001.test.code-builder-stg.platform.salesforce.com, 7 labels)
    "a.b.c.d.e.001.test.code-builder-stg.platform.salesforce.com": (
        "d.e.001.test.code-builder-stg.platform.salesforce.com"
    ),
    "4.3.2.1.in-addr.arpa": "1.in-addr.arpa",
    "a.www.xn--55qx5d.cn": "www.xn--55qx5d.cn",  # IDN suffix (公司.cn) in punycode
    "xn--55qx5d.cn": "xn--55qx5d.cn",
    "shop.xn--bcher-kva.de": "xn--bcher-kva.de",  # IDN label under an ASCII suffix
    "a.shop.公司.cn": "shop.公司.cn",  # IDN suffix in Unicode
    "host.corp.local": "corp.local",  # not in the list: the implicit rule *
    "a..b.example.com": "example.com",  # only the labels after an empty one count
    ".co.uk": "co.uk",
}

#: (raw query, extra suffixes) -> registered domain
EXTRA = {
    ("a.dyn.example", ("dyn.example",)): "a.dyn.example",
    ("x.a.dyn.example", ("dyn.example",)): "a.dyn.example",
    ("x.y.z.tenant.example", ("*.tenant.example",)): "y.z.tenant.example",
    ("x.www.tenant.example", ("*.tenant.example", "!www.tenant.example")): "www.tenant.example",
}


def test_reference_known_answers():
    got = {name: registered_domain_py(name) for name in TRICKY}
    assert got == TRICKY
    assert {key: registered_domain_py(*key) for key in EXTRA} == EXTRA


def test_rule_parsing_and_precedence():
    rules = parse_rules(["// comment", "", "uk", "co.uk extra words", "*.ck", "!www.ck", "公司.cn"])
    assert rules.exact == {1: {"uk"}, 2: {"co.uk", "公司.cn", "xn--55qx5d.cn"}}
    assert rules.wildcard == {1: {"ck"}} and rules.exception == {2: {"www.ck"}}
    assert rules.depth == 2
    assert public_length(["a", "www", "ck"], rules) == 1  # the exception beats the wildcard
    assert public_length(["a", "b", "ck"], rules) == 2
    assert public_length(["a", "co", "uk"], rules) == 2
    assert public_length(["a", "example"], rules) == 1  # implicit rule *
    assert public_length([], rules) == 1
    assert parse_rules(["com"]).depth == 1 and parse_rules([]).depth == 1


def _evaluate(engine, names: list[str], extra: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """name -> (registered domain, subdomain) computed by the engine (never by ibis's default backend)."""
    t = ibis.memtable({"q": names})
    t = t.mutate(name=normalized_name(t.q))
    t = t.mutate(domain=registered_domain(t.name, extra))
    t = t.select("q", "domain", sub=subdomain(t.name, t.domain))
    rows = engine.backend.to_pyarrow(t).to_pylist()
    return {r["q"]: (r["domain"], r["sub"]) for r in rows}


@pytest.mark.parametrize("url", ENGINES)
def test_expression_matches_reference(url, tmp_path):
    with connect(url, tmp_path) as engine:
        got = _evaluate(engine, list(TRICKY))
        extra = {key: _evaluate(engine, [key[0]], key[1])[key[0]][0] for key in EXTRA}
    assert {name: domain for name, (domain, _) in got.items()} == TRICKY
    assert extra == EXTRA
    assert got["a.b.example.com"][1] == "a.b" and got["co.uk"][1] == "" and got["wpad"][1] == ""
    assert got["x.city.kobe.jp"][1] == "x" and got["data.tunnel.evil.duckdns.org"][1] == "data.tunnel"


# ------------------------------------------------------------------------------ real DNS names


def _queries(path: Path) -> Iterator[str]:
    """The ``query`` values of a Zeek dns log, TSV (plain or gzipped) or JSON lines."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        column = None
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#fields"):
                column = line.split("\t")[1:].index("query")
            elif line.startswith("{"):
                query = json.loads(line).get("query")
                if query:
                    yield query
            elif column is not None and line and not line.startswith("#"):
                value = line.split("\t")[column]
                if value not in ("-", "(empty)"):
                    yield value


@pytest.fixture(scope="module")
def real_names(shared_data) -> list[str]:
    """Every distinct queried name in the shared data's Zeek dns logs (RITA, Stratosphere, Mordor)."""
    files = sorted(p for p in shared_data.rglob("*dns*.log*") if p.is_file())
    names = sorted({q for p in files for q in _queries(p)})
    if len(names) < 1000:
        pytest.skip(f"only {len(names)} distinct DNS names under {shared_data}; the test wants 1,000")
    return names


def test_reference_agrees_with_publicsuffixlist(real_names):
    from publicsuffixlist import PublicSuffixList

    psl = PublicSuffixList()  # its own parser and matcher over the same bundled list
    compared = deeper = 0
    for name in real_names:
        expected = psl.privatesuffix(name)
        if expected is None:
            if psl.is_public(name):  # a public suffix (or one label): its own registered domain here
                assert registered_domain_py(name) == name.lower().rstrip("."), name
            continue
        assert registered_domain_py(name) == expected, name
        compared += 1
        deeper += expected.count(".") >= 2
    assert compared >= 1000 and deeper >= 100  # names under multi-label and private suffixes were tested


def test_expression_matches_reference_on_real_names(real_names, tmp_path):
    with connect("duckdb", tmp_path) as engine:
        got = _evaluate(engine, real_names)
    assert {n: d for n, (d, _) in got.items()} == {n: registered_domain_py(n) for n in real_names}

"""Sigma on real data: SigmaHQ's regression_data (an EVTX file per rule on which it must fire), ingested with
Winnow's EVTX source; and the same matches on DuckDB and Spark."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from tests.conftest import engine_params

pytest.importorskip("sigma.collection", reason="needs the sigma extra (pySigma)")

RULE_FOLDERS = ("rules", "rules-threat-hunting", "rules-emerging-threats")
_ID = re.compile(r"^id: *([0-9a-f-]{36})", re.M)


def expected_files(sigma: Path) -> dict[str, Path]:
    """Rule id -> the EVTX file of its regression test (rules whose test is not an EVTX file are left out)."""
    out = {}
    for info in sorted((sigma / "regression_data").rglob("info.yml")):
        doc = yaml.safe_load(info.read_text())
        tests = [t for t in doc.get("regression_tests_info") or [] if t.get("type") == "evtx"]
        for meta in doc.get("rule_metadata") or []:
            if tests:
                out[meta["id"]] = sigma / tests[0]["path"]
    return out


def rule_files(sigma: Path, ids: set[str]) -> list[Path]:
    """The rule files of ``ids`` in the snapshot's rule folders."""
    found = []
    for folder in RULE_FOLDERS:
        for path in sorted((sigma / folder).rglob("*.yml")):
            match = _ID.search(path.read_text(encoding="utf-8", errors="replace"))
            if match and match.group(1) in ids:
                found.append(path)
    return found


@pytest.fixture(scope="module")
def regression(shared_data, tmp_path_factory):
    """(lake, rule set, expected file per rule id, file -> the file whose identical content the lake holds)."""
    from winnow.ingest import ingest
    from winnow.sigma.rules import load_rules

    sigma = shared_data / "sigma"
    if not (sigma / "regression_data").is_dir():
        pytest.skip("no sigma/regression_data in the shared data")
    expected = expected_files(sigma)
    lake = tmp_path_factory.mktemp("sigma_regression") / "lake"
    report = ingest([sigma / "regression_data"], lake)
    same = {f.file: re.sub(r", ingested .*$", "", f.message.split("same content as ", 1)[1])
            for f in report.files if f.status == "already ingested"}
    ruleset = load_rules(rule_files(sigma, set(expected)))
    return lake, ruleset, expected, same


def fired_files(engine_name: str, lake: Path, rules) -> dict[str, set]:
    """Rule id -> the (file, record id) of every event it matched."""
    from winnow.engine import connect
    from winnow.sigma.scan import scan

    out: dict[str, set] = {}
    with connect(engine_name, lake) as engine:
        for matches in scan(engine, rules):
            for i, compiled in enumerate(matches.rules):
                rows = matches.of(i)
                out[compiled.rule_id] = set(zip(rows.column("_source_file").to_pylist(),
                                                rows.column("record_id").to_pylist(), strict=True))
    return out


def test_every_regression_rule_fires_on_its_own_evtx_file(regression):
    lake, ruleset, expected, same = regression
    fired = fired_files("duckdb", lake, ruleset.rules)
    compiled = {r.rule_id for r in ruleset.rules}
    misses = []
    for rule_id, path in sorted(expected.items()):
        own = same.get(str(path), str(path))
        if rule_id not in compiled:
            misses.append(f"{rule_id} did not compile ({'; '.join(map(str, ruleset.problems))})")
        elif own not in {f for f, _ in fired.get(rule_id, set())}:
            misses.append(f"{rule_id} did not fire on {path.name}")
    share = 1 - len(misses) / len(expected)
    assert len(expected) >= 200
    assert share >= 0.98, "\n".join(misses)


@pytest.mark.parametrize("engine_name", [p for p in engine_params() if p.values[0] != "duckdb"])
def test_duckdb_and_spark_match_the_same_events(regression, engine_name):
    lake, ruleset, _, _ = regression
    sample = ruleset.rules[::6]  # every kind of log source, a sixth of the rules: Spark is slow
    duck = fired_files("duckdb", lake, sample)
    other = fired_files(engine_name, lake, sample)
    assert sum(len(v) for v in duck.values()) >= len(sample)
    assert duck == other

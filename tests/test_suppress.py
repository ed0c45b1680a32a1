"""Allow-lists and suppressions: applied when findings are read, visible in evidence, reversible."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from winnow.errors import WinnowError
from winnow.scoring.suppress import apply, load_rules

BEACON = {"detector": "beacon", "score": 0.9, "severity": "high", "entity": "10.0.0.5->203.0.113.9:443",
          "src": "10.0.0.5", "dst": "203.0.113.9", "dport": 443, "host": None, "user": None,
          "first_seen": None, "last_seen": None, "components": {}, "why": "it beacons",
          "evidence": {"server_name": "telemetry.vendor.example", "ja3": "abc"}}
OTHER = {**BEACON, "entity": "10.0.0.6->198.51.100.1:443", "src": "10.0.0.6", "dst": "198.51.100.1", "score": 0.5,
         "evidence": {}}


def rules_from(tmp_path, text):
    path = tmp_path / "suppressions.toml"
    path.write_text(text)
    return load_rules(path)


@pytest.mark.parametrize("rule", [
    'cidr = "203.0.113.0/24"', 'domain = "vendor.example"', 'ja3 = "ABC"', 'cidr = "10.0.0.5/32"',
])
def test_each_kind_of_rule_lowers_the_score_and_says_so(tmp_path, rule):
    rules = rules_from(tmp_path, f'[[rule]]\n{rule}\nreason = "known agent"\nfactor = 0.1\n')
    shown, hidden = apply([BEACON, OTHER], rules)
    assert hidden == 0
    assert [f["entity"] for f in shown] == [OTHER["entity"], BEACON["entity"]]  # re-ranked
    lowered = shown[1]
    assert lowered["score"] == pytest.approx(0.09) and lowered["severity"] == "info"
    assert lowered["evidence"]["suppressed_by"][0]["score_before"] == 0.9
    assert "known agent" in lowered["evidence"]["suppressed_by"][0]["rule"] and "allow-listed" in lowered["why"]
    assert BEACON["score"] == 0.9 and "suppressed_by" not in BEACON["evidence"]  # input untouched


def test_factor_zero_hides_and_detector_scope_applies(tmp_path):
    rules = rules_from(tmp_path, '[[rule]]\ndomain = "vendor.example"\nreason = "x"\n')
    assert apply([BEACON, OTHER], rules) == ([OTHER], 1)
    scoped = rules_from(tmp_path, '[[rule]]\ndomain = "vendor.example"\nreason = "x"\ndetectors = ["scan"]\n')
    assert apply([BEACON], scoped) == ([BEACON], 0)


def test_no_file_means_no_rules_and_bad_files_are_user_errors(tmp_path):
    assert load_rules(tmp_path / "absent.toml") == []
    for text, message in [("[[rule]\n", "not valid TOML"), ('[[rule]]\nreason = "x"\n', "needs one of"),
                          ('[[rule]]\ncidr = "nonsense"\n', "rule 1"), ('[[rule]]\nja3 = "a"\nfactor = 2\n', "factor"),
                          ('[[rule]]\nja3 = "a"\ncolour = "red"\n', "unknown keys")]:
        with pytest.raises(WinnowError, match=message):
            rules_from(tmp_path, text)


def test_cli_applies_lake_rules_and_no_suppress_undoes_them(tmp_path):
    from zeekgen import long_conn_fixture

    def winnow(*args):
        return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True)

    long_conn_fixture(tmp_path / "logs")
    lake = tmp_path / "lake"
    assert winnow("ingest", str(tmp_path / "logs"), "--lake", str(lake)).returncode == 0
    assert winnow("detect", "--lake", str(lake), "--detector", "long_conn").returncode == 0
    (lake / "suppressions.toml").write_text('[[rule]]\ncidr = "203.0.113.9/32"\nreason = "jump host"\nfactor = 0.5\n')
    rows = [json.loads(x) for x in winnow("findings", "--lake", str(lake), "--format", "jsonl").stdout.splitlines()]
    lowered = next(r for r in rows if r["dst"] == "203.0.113.9")
    assert lowered["evidence"]["suppressed_by"][0]["factor"] == 0.5
    raw = [json.loads(x) for x in
           winnow("findings", "--lake", str(lake), "--format", "jsonl", "--no-suppress").stdout.splitlines()]
    original = next(r for r in raw if r["dst"] == "203.0.113.9")
    assert lowered["score"] == pytest.approx(original["score"] * 0.5, abs=1e-6)
    assert "suppressed_by" not in original["evidence"]

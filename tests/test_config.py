"""The one configuration: file < environment < --set, located errors, and settings stored with each run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from zeekgen import long_conn_fixture

from winnow.config import ConfigError, all_settings, load
from winnow.config.load import key_lines


def winnow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("config")
    long_conn_fixture(root / "logs")
    assert winnow("ingest", str(root / "logs"), "--lake", str(root / "lake")).returncode == 0
    return root / "lake"


def _long_conn_findings(lake: Path) -> list[dict]:
    out = winnow("findings", "--lake", str(lake), "--detector", "long_conn", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_init_file_reads_back_unchanged(tmp_path):
    result = winnow("config", "init", str(tmp_path / "w.toml"))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "w.toml").read_text()
    config = load(path=tmp_path / "w.toml", env={})
    known = all_settings()
    written = {k for k in config.values}
    assert written == set(known) - {"lake"}  # every setting and parameter, the lake only in a comment
    assert all(config.get(k) == known[k].default for k in written)
    assert config.changed() == {}
    assert "# lake = " in text and "[beacon]" in text and "min_score = 0.2" in text
    again = winnow("config", "init", str(tmp_path / "w.toml"))
    assert again.returncode != 0 and "--force" in again.stderr
    shown = winnow("config", "show", "--config", str(tmp_path / "w.toml"), "--format", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == []  # nothing differs from the defaults


def test_detect_with_the_init_file_finds_what_the_defaults_find(lake, tmp_path):
    assert winnow("config", "init", str(tmp_path / "w.toml")).returncode == 0
    assert winnow("detect", "--lake", str(lake), "--detector", "long_conn").returncode == 0
    default = _long_conn_findings(lake)
    result = winnow("detect", "--lake", str(lake), "--detector", "long_conn", "--config", str(tmp_path / "w.toml"))
    assert result.returncode == 0, result.stderr
    assert _long_conn_findings(lake) == default


def test_set_changes_a_detectors_result_and_is_stored_with_the_run(lake):
    assert winnow("detect", "--lake", str(lake), "--detector", "long_conn").returncode == 0
    default = _long_conn_findings(lake)
    assert default
    result = winnow("detect", "--lake", str(lake), "--detector", "long_conn", "--set", "long_conn.min_duration=1e9")
    assert result.returncode == 0, result.stderr
    assert _long_conn_findings(lake) == []
    runs = json.loads(winnow("runs", "--lake", str(lake), "--format", "json").stdout)
    (run,) = [r for r in runs if r["detector"] == "long_conn"]
    assert run["settings"]["long_conn.min_duration"] == {"value": 1e9, "origin": "--set long_conn.min_duration=1e9"}
    assert run["settings"]["networks.internal"]["origin"] == "default"
    from winnow.cli.runs_cmd import changed_settings

    assert changed_settings(run["settings"]) == "long_conn.min_duration=1000000000.0 (--set long_conn.min_duration=1e9)"
    table = winnow("runs", "--lake", str(lake), "--format", "table", env={"COLUMNS": "250"})
    assert "long_conn.min_duration=1000000000.0 (--set" in table.stdout
    limited = winnow("detect", "--lake", str(lake), "--detector", "long_conn", "--set", "long_conn.limit=1")
    assert limited.returncode == 0
    shown = winnow("findings", "--lake", str(lake), "--format", "table")
    assert "long_conn: run " in shown.stderr and "with long_conn.limit=1 (--set long_conn.limit=1)" in shown.stderr


def test_lake_file_then_env_then_set(lake, tmp_path):
    (lake / "winnow.toml").write_text("[long_conn]\nmin_duration = 1e9\n")
    try:
        assert winnow("detect", "--lake", str(lake), "--detector", "long_conn").returncode == 0
        assert _long_conn_findings(lake) == []
        env = {"WINNOW_LONG_CONN_MIN_DURATION": "3600"}
        assert winnow("detect", "--lake", str(lake), "--detector", "long_conn", env=env).returncode == 0
        assert len(_long_conn_findings(lake)) > 0
        result = winnow("detect", "--lake", str(lake), "--detector", "long_conn", "--set",
                        "long_conn.min_duration=1e9", env=env)
        assert result.returncode == 0 and _long_conn_findings(lake) == []
        cfg = load(lake=lake, env=env, sets=["long_conn.limit=3"])
        assert cfg.origin("long_conn.min_duration") == "$WINNOW_LONG_CONN_MIN_DURATION"
        assert cfg.origin("long_conn.limit") == "--set long_conn.limit=3" and cfg.detector_params("long_conn") == {
            "min_duration": 3600.0, "limit": 3}
    finally:
        (lake / "winnow.toml").unlink()


@pytest.mark.parametrize(("text", "expected"), [
    ("engine = 'duckdb'\n\n[beacon]\nmin_scor = 0.6\n", r"w\.toml:4: unknown setting 'beacon\.min_scor'; did you mean "
     r"beacon\.min_score"),
    ("[beacon]\nmin_score = 'high'\n", r"w\.toml:2: beacon\.min_score: expected a number, got 'high'"),
    ("beacon.min_callbacks = 2.5\n", r"w\.toml:1: beacon\.min_callbacks: expected an integer"),
    ("[networks]\ninternal = ['10.0.0.0/8', 'ten']\n", r"w\.toml:2: networks\.internal: expected a list of networks"),
    ("[networks]\n\ninternal = ['2001:db8::/20']\n", r"w\.toml:3: networks\.internal: IPv6 network 2001::/20 cannot be "
     r"matched on address text"),
    ("[nosuch]\nkey = 1\n", r"w\.toml:2: unknown setting 'nosuch\.key'"),
    ("[beacon\nmin_score = 1\n", r"w\.toml: not valid TOML"),
])
def test_file_errors_name_file_line_and_key(tmp_path, text, expected):
    (tmp_path / "w.toml").write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load(path=tmp_path / "w.toml", env={})


def test_cli_errors_are_one_line_and_exit_1(lake, tmp_path):
    (tmp_path / "w.toml").write_text("[beacon]\nmin_score = 'high'\n")
    result = winnow("detect", "--lake", str(lake), "--config", str(tmp_path / "w.toml"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "w.toml:2: beacon.min_score: expected a number" in result.stderr
    result = winnow("detect", "--lake", str(lake), "--set", "beacon.nope=1")
    assert result.returncode == 1 and "--set beacon.nope=1: unknown setting 'beacon.nope'" in result.stderr
    result = winnow("detect", "--lake", str(lake), env={"WINNOW_BEACON_MIN_SCORE": "abc"})
    assert result.returncode == 1 and "$WINNOW_BEACON_MIN_SCORE: beacon.min_score: expected a number" in result.stderr
    result = winnow("detect", "--lake", str(lake), "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 1 and "missing.toml not found" in result.stderr


def test_values_from_text_and_lists():
    cfg = load(sets=["networks.internal=10.0.0.0/8, 192.0.2.0/24", "dns_tunnel.tunnel_qtypes=['TXT','NULL']",
                     "spark.verbose=true", "memory=4GB"], env={})
    assert cfg.get("networks.internal") == ("10.0.0.0/8", "192.0.2.0/24")
    assert cfg.get("dns_tunnel.tunnel_qtypes") == ("TXT", "NULL")
    assert cfg.get("spark.verbose") is True and cfg.get("memory") == "4GB"
    with pytest.raises(ConfigError, match="memory: expected a size"):
        load(sets=["memory=lots"], env={})
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load(sets=["beacon.min_score"], env={})


def test_key_lines_follow_tables_and_dotted_keys():
    text = 'engine = "spark"\n# comment = 1\n[beacon]\nmin_score = 0.5\n\n[ "networks" ]\ninternal = []\nx.y = 1\n'
    assert key_lines(text) == {"engine": 1, "beacon": 3, "beacon.min_score": 4, "networks": 6,
                               "networks.internal": 7, "networks.x.y": 8}


def test_detector_names_do_not_collide_with_setting_sections():
    from winnow.config import SETTINGS
    from winnow.detections import detectors

    sections = {s.name.split(".")[0] for s in SETTINGS}
    assert not sections & set(detectors())

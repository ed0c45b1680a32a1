"""The CLI: lazy start-up, one-line user errors, output formats, generated docs in sync."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from zeekgen import long_conn_fixture

from winnow.scoring import FINDING_FIELDS

ROOT = Path(__file__).resolve().parents[1]


def winnow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_help_is_lazy():
    code = ("import sys; from winnow.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "heavy = [m for m in ('pyspark', 'duckdb', 'pyarrow', 'ibis', 'fastapi', 'uvicorn', 'starlette')\n"
            "         if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", ["detect", "attribute"])
def test_engine_help_comes_from_the_registry_without_loading_an_engine(command):
    code = ("import sys; from winnow.cli.main import main\n"
            f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "heavy = [m for m in ('pyspark', 'duckdb') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from winnow.engine.registry import url_forms

    text = " ".join(result.stdout.split())
    assert all(form in text for form in url_forms()) and "pip install 'winnow[spark]'" in text


def test_engines_lists_the_registry(capsys):
    from winnow.cli.main import main
    from winnow.engine import engines

    with pytest.raises(SystemExit) as code:
        main(["engines", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert code.value.code == 0 and [r["name"] for r in rows] == list(engines())
    assert all(r["installed"] == "yes" or "pip install" in r["installed"] for r in rows)
    assert rows[1]["urls"].startswith("spark, spark://HOST:PORT")


@pytest.mark.parametrize("args, message", [
    (["ingest", "/nonexistent/path"], "no such file or folder"),
    (["findings", "--lake", "/nonexistent/lake"], "no lake at"),
    (["detect", "--lake", "/nonexistent/lake"], "no lake at"),
    (["detect", "--detector", "nope"], "unknown detector"),
])
def test_user_errors_are_one_line(args, message):
    result = winnow(*args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_usage_error_exits_2():
    assert winnow("detect", "--bogus").returncode == 2


@pytest.fixture(scope="module")
def detected_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    long_conn_fixture(root / "logs")
    assert winnow("ingest", str(root / "logs"), "--lake", str(root / "lake")).returncode == 0
    result = winnow("detect", "--lake", str(root / "lake"))
    assert result.returncode == 0, result.stderr
    return root / "lake"


def test_findings_jsonl_contract(detected_lake):
    result = winnow("findings", "--lake", str(detected_lake), "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all(list(r) == list(FINDING_FIELDS) for r in rows)
    assert rows == sorted(rows, key=lambda r: -r["score"])


def test_findings_formats(detected_lake):
    as_json = json.loads(winnow("findings", "--lake", str(detected_lake), "--format", "json",
                                "--detector", "long_conn").stdout)
    assert len(as_json) == 5
    csv_out = winnow("findings", "--lake", str(detected_lake), "--format", "csv", "--limit", "2").stdout
    assert csv_out.splitlines()[0].split(",")[:3] == ["detector", "score", "severity"]
    assert len(csv_out.strip().splitlines()) == 3
    table = winnow("findings", "--lake", str(detected_lake), "--format", "table").stdout
    assert "long_conn" in table and "why" in table


def test_findings_table_is_readable(detected_lake):
    """Scores to two decimals, severity, first/last seen in UTC, and every word of every why."""
    env = {**os.environ, "COLUMNS": "100"}
    found = [json.loads(line) for line in winnow("findings", "--lake", str(detected_lake), "--format", "jsonl")
             .stdout.splitlines()]
    table = subprocess.run([sys.executable, "-m", "winnow.cli.main", "findings", "--lake", str(detected_lake),
                            "--format", "table"], capture_output=True, text=True, env=env, timeout=300).stdout
    lines = table.splitlines()
    column = lines[0].index("entity / why")
    last_column = " ".join(line[column:].strip() for line in lines[2:])
    for finding in found:
        assert f" {finding['score']:.2f} " in table and finding["severity"] in table
        assert " ".join(finding["why"].split()) in " ".join(last_column.split())
        first = finding["first_seen"][:19].replace("T", " ")
        assert first in table and finding["last_seen"][11:19] in table
    assert not re.search(r"\d\.\d{3,}", " ".join(line[:column] for line in lines)), "scores are rounded"


def test_reingest_adds_nothing(detected_lake, tmp_path):
    logs = detected_lake.parent / "logs"
    result = winnow("ingest", str(logs), "--lake", str(detected_lake), "--report", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["already ingested"]


def test_generated_docs_are_current():
    from winnow.cli.docs import render as cli_doc
    from winnow.schema.docs import render as schema_doc

    assert (ROOT / "docs" / "cli.md").read_text() == cli_doc(), "run: python -m winnow.cli.docs > docs/cli.md"
    assert (ROOT / "docs" / "SCHEMA.md").read_text() == schema_doc(), \
        "run: python -m winnow.schema.docs > docs/SCHEMA.md"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme.split("## Quick start", 1)[1].split("\n## ", 1)[0], re.S)
    assert len(blocks) == 2, "the quick start has exactly two commands"
    assert "winnow demo" in blocks[0] and "pytest" in blocks[1]
    assert blocks[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_a_failing_detector_does_not_stop_the_others(detected_lake, monkeypatch):
    from winnow.detections import get_detector
    from winnow.detections.long_conn import LongConnections
    from winnow.engine import connect
    from winnow.pipeline.detect import run_detectors

    def broken(self, engine, window):
        raise RuntimeError("boom")

    monkeypatch.setattr(LongConnections, "find", broken)
    with connect("duckdb", detected_lake) as engine:
        runs = {r.detector: r for r in run_detectors(engine, ["long_conn", "beacon"])}
    assert "boom" in runs["long_conn"].failed and not runs["beacon"].failed
    assert get_detector("beacon").name == "beacon"

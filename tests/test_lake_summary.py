"""winnow lake: per table rows, time range, sources, files and warnings, read from footers and the manifest."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from zeekgen import long_conn_fixture, write_conn_log

from winnow.lake import Lake
from winnow.lake.summary import FIELDS, part_stats, summarize

DATA = Path(__file__).resolve().parent / "data"


def winnow(*args: str, columns: int = 100) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Zeek logs (some with bad lines), auditd logs, a log of nothing but bad lines, and stored findings."""
    root = tmp_path_factory.mktemp("lake-summary")
    logs = root / "logs"
    long_conn_fixture(logs / "long")
    shutil.copytree(DATA / "zeek", logs / "zeek")
    shutil.copytree(DATA / "auditd", logs / "auditd")
    write_conn_log(logs / "broken" / "conn.log", ["1793577600.0\tCx\t10.0.0.1", "garbage\tline"])
    assert winnow("ingest", str(logs), "--lake", str(root / "lake")).returncode == 0
    detected = winnow("detect", "--lake", str(root / "lake"))
    assert detected.returncode == 0, detected.stderr
    return root / "lake"


def by_table(rows: list[dict]) -> dict[str, dict]:
    return {r["table"]: r for r in rows}


def test_rows_and_time_ranges_match_a_scan(lake):
    from winnow.engine import connect, fetch

    rows = by_table(summarize(Lake.open(lake)))
    with connect("duckdb", lake) as engine:
        for name in ("net.conn", "net.dns", "proc.exec", "proc.net", "auth.logon", "ingest_warnings"):
            table = engine.table(name)
            got = fetch(table.aggregate(n=table.count(), lo=table.ts.min(), hi=table.ts.max())).to_pylist()[0]
            assert rows[name]["rows"] == got["n"], name
            assert rows[name]["first_ts"] == got["lo"].strftime("%Y-%m-%dT%H:%M:%SZ"), name
            assert rows[name]["last_ts"] == got["hi"].strftime("%Y-%m-%dT%H:%M:%SZ"), name


def test_sources_files_and_warnings_come_from_the_manifest(lake):
    rows = by_table(summarize(Lake.open(lake)))
    conn = rows["net.conn"]
    assert conn["kind"] == "log" and conn["sources"] == ["zeek_json", "zeek_tsv"]
    # long/conn.log + 6 Zeek conn fixtures; the all-bad log gave no rows, so it is not a net.conn file
    assert conn["files"] == 7
    assert conn["warnings"] == 3 + 4 + 1  # bad_json, bad_lines, truncated
    assert rows["auth.logon"]["warnings"] == 0 and rows["auth.logon"]["sources"] == ["auditd", "zeek_tsv"]
    warnings = rows["ingest_warnings"]
    assert warnings["kind"] == "warnings" and warnings["files"] == 4  # ... and the all-bad log
    assert warnings["rows"] == conn["warnings"] + 2
    assert [r["kind"] for r in summarize(Lake.open(lake))][-2:] == ["warnings", "findings"]


def test_findings_store_per_detector(lake):
    store = summarize(Lake.open(lake))[-1]
    assert store["table"] == "findings" and set(store) == set(FIELDS)
    out = winnow("findings", "--lake", str(lake), "--format", "jsonl").stdout
    listed = [json.loads(line) for line in out.splitlines()]
    counts: dict[str, int] = {}
    for finding in listed:
        counts[finding["detector"]] = counts.get(finding["detector"], 0) + 1
    assert {k: v["findings"] for k, v in store["detectors"].items() if v["findings"]} == counts
    assert store["rows"] == len(listed) and counts.get("long_conn")
    assert all(v["last_run"] and v["engine"] == "duckdb" for v in store["detectors"].values())
    assert store["detectors"]["long_conn"]["top_score"] == max(f["score"] for f in listed
                                                                 if f["detector"] == "long_conn")


def test_footers_only_data_pages_are_never_read(tmp_path):
    """Data pages overwritten with zeros: the summary still holds, so it read nothing but the footer."""
    ts = pa.array([dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC)],
                  pa.timestamp("us", tz="UTC"))
    path = tmp_path / "part.parquet"
    nested = pa.array([{"a": 1, "b": "z"}, {"a": 2, "b": "y"}])  # two leaf columns before ts
    pq.write_table(pa.table({"s": nested, "ts": ts, "x": ["a", "b"]}), path, compression="none")
    raw = bytearray(path.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    raw[4:len(raw) - 8 - footer] = bytes(len(raw) - 12 - footer)
    path.write_bytes(bytes(raw))
    try:
        garbled = pq.read_table(path).column("x").to_pylist() != ["a", "b"]
    except (OSError, pa.ArrowException):
        garbled = True
    assert garbled, "the data pages still hold the data: the test proves nothing"
    stats = part_stats(path)
    assert (stats.rows, stats.first, stats.last) == (2, ts[0].as_py(), ts[1].as_py())


def test_row_groups_without_statistics_are_scanned(tmp_path):
    ts = pa.array([dt.datetime(2026, 11, 2, h, tzinfo=dt.UTC) for h in (5, 1, 9, 3)], pa.timestamp("us", tz="UTC"))
    path = tmp_path / "part.parquet"
    pq.write_table(pa.table({"ts": ts, "x": [1, 2, 3, 4]}), path, write_statistics=["x"], row_group_size=2)
    assert pq.read_metadata(path).row_group(0).column(0).statistics is None or \
        not pq.read_metadata(path).row_group(0).column(0).statistics.has_min_max
    stats = part_stats(path)
    assert (stats.rows, stats.first.hour, stats.last.hour) == (4, 1, 9)


def test_cli_json_is_one_object_per_table(lake):
    result = winnow("lake", "--lake", str(lake), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(list(r) == list(FIELDS) for r in rows)
    assert [r["table"] for r in rows] == [r["table"] for r in summarize(Lake.open(lake))]
    lines = winnow("lake", "--lake", str(lake), "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_cli_table(lake):
    result = winnow("lake", "--lake", str(lake), "--format", "table")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("net.conn", "proc.net", "ingest_warnings", "zeek_tsv", "Findings store", "long_conn", "2026-11-02"):
        assert text in out, text
    assert "8" in out.split("net.conn", 1)[1].splitlines()[0]  # its warnings


def test_a_store_being_written_does_not_hide_the_tables(lake):
    import duckdb

    writer = duckdb.connect(str(lake / "findings.duckdb"))  # what a running detection holds
    try:
        result = winnow("lake", "--lake", str(lake), "--format", "json")
        listed = winnow("findings", "--lake", str(lake))
    finally:
        writer.close()
    assert result.returncode == 0, result.stderr
    rows = by_table(json.loads(result.stdout))
    assert rows["net.conn"]["rows"] and rows["findings"]["rows"] is None and rows["findings"]["detectors"] is None
    assert listed.returncode == 1 and len(listed.stderr.strip().splitlines()) == 1
    assert "in use by another process" in listed.stderr


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_cli_table_fits_the_terminal_without_breaking_words(lake, columns):
    out = winnow("lake", "--lake", str(lake), "--format", "table", columns=columns).stdout
    assert max(len(line.rstrip()) for line in out.splitlines()) <= columns
    words = set(out.split())
    rows = summarize(Lake.open(lake))
    assert {r["table"] for r in rows if r["kind"] != "findings"} <= words
    assert {s for r in rows if r["kind"] == "log" for s in r["sources"]} <= {w.rstrip(",") for w in words}
    assert {r["first_ts"][:10] for r in rows if r["first_ts"]} <= words  # dates whole
    if columns >= 160:
        assert {"days", "parts", "size"} <= words  # every column when there is room


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_no_lake_is_a_one_line_error(tmp_path, make):
    target = tmp_path / "nolake"
    if make == "empty":
        target.mkdir()
    result = winnow("lake", "--lake", str(target))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(target) in result.stderr and "winnow ingest" in result.stderr

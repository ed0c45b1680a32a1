"""Acceptance: every file of the shared real-data folder ingests without a traceback, and nothing is lost.

One ``winnow ingest`` of the whole folder (``shared_data``, skipped when absent). For Zeek TSV,
Zeek JSON lines and EVTX, each file's rows that landed plus its lines reported in warnings (and its
rows of log kinds no table takes) equal a count made without Winnow: non-comment lines of TSV, non-blank
lines of JSON, records from the ``evtx`` package's own iterator.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import pyarrow.dataset as pads
import pytest

COUNTED = ("zeek_tsv", "zeek_json", "evtx")


@pytest.fixture(scope="module")
def whole(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """(report by file, landed lines by file, warned lines by file) of one ingest of the shared folder."""
    lake = tmp_path_factory.mktemp("lake-shared")
    result = subprocess.run(
        [sys.executable, "-m", "winnow.cli.main", "ingest", str(shared_data), "--lake", str(lake), "--report", "jsonl"],
        capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for bad in ("Traceback", "internal error", "Exception ignored"):
        assert bad not in result.stderr, result.stderr[-2000:]
    report = {r["file"]: r for r in map(json.loads, result.stdout.splitlines())}
    landed: dict[str, set[int]] = defaultdict(set)
    for table in sorted(p for p in lake.iterdir() if p.is_dir() and not p.name.startswith(("_", "ingest_"))):
        if table.name == "net.conn_proc":
            continue
        rows = pads.dataset(table, format="parquet", partitioning="hive").to_table(
            columns=["_source_file", "_source_format", "_line"])
        for file, fmt, line in zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True):
            if fmt in COUNTED and (fmt != "evtx" or table.name == "win.event"):
                landed[file].add(line)
    warned: dict[str, set[int]] = defaultdict(set)
    if (lake / "ingest_warnings").is_dir():
        rows = pads.dataset(lake / "ingest_warnings", format="parquet", partitioning="hive").to_table(
            columns=["file", "line"])
        for file, line in zip(rows["file"].to_pylist(), rows["line"].to_pylist(), strict=True):
            if line is not None:
                warned[file].add(line)
    return report, landed, warned


def stored_bytes(name: str) -> bytes:
    """The decompressed content of a reported file (``archive!member`` for zip members), read without Winnow."""
    if "!" in name:
        archive, member = name.split("!", 1)
        with zipfile.ZipFile(archive) as z:
            data = z.read(member)
    else:
        data = Path(name).read_bytes()
    for magic, module in ((b"\x1f\x8b", gzip), (b"BZh", bz2), (b"\xfd7zXZ\x00", lzma)):
        if data.startswith(magic):
            return module.decompress(data)
    return data


def independent_count(name: str, fmt: str) -> int:
    data = stored_bytes(name)
    if fmt == "evtx":
        from evtx import PyEvtxParser

        records = PyEvtxParser(io.BytesIO(data)).records()
        count = 0
        while True:
            try:
                next(records)
            except StopIteration:
                return count
            except (RuntimeError, OSError, ValueError):
                continue
            count += 1
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if fmt == "zeek_tsv":
        return sum(1 for line in lines if not line.startswith((b"#", b"\xef\xbb\xbf#")))
    return sum(1 for line in lines if line.strip())


def test_every_file_ingests_without_an_internal_error(whole) -> None:
    report, _, _ = whole
    statuses = {r["status"] for r in report.values()}
    assert statuses <= {"ingested", "already ingested", "unrecognized", "failed", "abandoned"}
    failed = {Path(f).name for f, r in report.items() if r["status"] == "failed"}
    assert all("encrypted" in report[f]["message"] for f in report if report[f]["status"] == "failed"), failed


@pytest.mark.parametrize("fmt", COUNTED)
def test_rows_plus_warned_rows_equal_an_independent_count(whole, fmt: str) -> None:
    report, landed, warned = whole
    files = [f for f, r in report.items() if r["format"] == fmt and r["status"] != "already ingested"]
    assert files, f"no {fmt} file in the shared data"
    wrong = {}
    for file in files:
        skipped = sum(report[file]["skipped"].values())
        got = len(landed[file] | warned[file]) + skipped
        expected = independent_count(file, fmt)
        if got != expected:
            wrong[file] = (got, expected)
    assert not wrong, f"{len(wrong)} of {len(files)} {fmt} files (rows+warned, independent): {wrong}"

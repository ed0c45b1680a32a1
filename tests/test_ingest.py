"""Ingest: idempotence, atomic commits that survive a real kill, recovery, locking, warnings as data, CLI."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

import winnow.lake.manifest
from winnow.errors import WinnowError
from winnow.ingest import ingest
from winnow.lake import FileWriter, Lake
from winnow.lake.commit import recover

SEED = 20260528
DATA_TABLES = ("net.conn", "net.dns", "net.http", "net.tls")

CONN_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t{opened}\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes"
    "\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes"
    "\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount"
    "\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)


# ---------------------------------------------------------------- helpers


def write_conn_logs(folder: Path, files: int, lines: int, seed: int) -> None:
    """``files`` distinct Zeek TSV conn logs of ``lines`` random (seeded) connections over two days."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    t0 = 1_780_000_000.0
    body = "".join(
        f"{t0 + rng.uniform(0, 172_800):.6f}\tC{rng.getrandbits(64):016x}"
        f"\t10.0.{rng.randrange(256)}.{rng.randrange(256)}\t{rng.randrange(1024, 65536)}"
        f"\t203.0.113.{rng.randrange(256)}\t{rng.choice((53, 80, 443, 22))}\ttcp\t-"
        f"\t{rng.uniform(0, 60):.6f}\t{rng.randrange(10**6)}\t{rng.randrange(10**6)}\tSF\tT\tF\t0\tShADadFf"
        f"\t{rng.randrange(100)}\t{rng.randrange(10**6)}\t{rng.randrange(100)}\t{rng.randrange(10**6)}\t(empty)\n"
        for _ in range(lines)
    ).encode()
    for i in range(files):  # each file: the same lines rotated by a random amount, so every file differs
        cut = body.index(b"\n", rng.randrange(len(body) - 1)) + 1 if i else 0
        header = CONN_HEADER.format(opened=f"2026-05-28-{i:02d}-00-00").encode()
        (folder / f"conn.{i:02d}:00:00-{i + 1:02d}:00:00.log").write_bytes(header + body[cut:] + body[:cut])


def table_rows(lake: Path, table: str) -> pa.Table:
    parts = sorted((lake / table).glob("day=*/*.parquet"))
    return pads.dataset(parts, format="parquet").to_table() if parts else pa.table({})


def table_counts(lake: Path) -> dict[str, int]:
    """Rows per data table, read back from the Parquet."""
    counts = {t: table_rows(lake, t).num_rows for t in DATA_TABLES}
    return {t: n for t, n in counts.items() if n}


def manifest_entries(lake: Path) -> list[dict]:
    path = lake / "_manifest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def committed(lake: Path) -> int:
    """Complete lines in the manifest (what a killed ingest has committed so far)."""
    try:
        return (lake / "_manifest.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_clean_bookkeeping(lake: Path) -> None:
    """No temporary part, folder or journal is left, and no file is in the manifest twice."""
    for folder in (lake / "_tmp", lake / "_journal"):
        assert not folder.exists() or list(folder.iterdir()) == [], folder
    shas = Counter(e["sha256"] for e in manifest_entries(lake))
    assert [s for s, n in shas.items() if n > 1] == []


def assert_no_duplicate_rows(lake: Path) -> None:
    for table in DATA_TABLES:
        data = table_rows(lake, table)
        if data.num_rows:
            assert data.group_by(["_source_file", "_line"]).aggregate([]).num_rows == data.num_rows, table


def ingest_in_subprocess(paths: list[Path], lake: Path) -> subprocess.Popen:
    code = f"from winnow.ingest import ingest; ingest({[str(p) for p in paths]!r}, {str(lake)!r})"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_commits(proc: subprocess.Popen, lake: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while committed(lake) < n:
        if proc.poll() is not None:
            pytest.fail(
                f"ingest ended before {n} files were committed: {proc.stderr.read().decode()[-2000:]}"
            )
        assert time.monotonic() < deadline, "ingest too slow"
        time.sleep(0.005)


def kill_mid_ingest(folder: Path, lake: Path, after: int, delay: float, n_files: int,
                    before_kill: Callable[[int], None] | None = None) -> int:
    """SIGKILL an ingest of ``folder`` ``delay`` s after ``after`` files are committed; return how many were.

    ``before_kill`` is called with the ingest's process id right before it is killed.
    """
    proc = ingest_in_subprocess([folder], lake)
    try:
        wait_for_commits(proc, lake, after)
        time.sleep(delay)
        if before_kill is not None:
            before_kill(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    done = committed(lake)
    assert 1 <= done < n_files, "the kill did not land mid-ingest"
    return done


# ---------------------------------------------------------------- a big input, and a clean run of it

N_FILES, N_LINES = 20, 25_000


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big") / "logs"
    write_conn_logs(folder, N_FILES, N_LINES, SEED)
    return folder


@pytest.fixture(scope="module")
def clean_counts(big_input: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    lake = tmp_path_factory.mktemp("clean") / "lake"
    report = ingest([big_input], lake)
    assert [f.status for f in report.files] == ["ingested"] * N_FILES
    counts = table_counts(lake)
    assert counts == {"net.conn": N_FILES * N_LINES}
    assert_clean_bookkeeping(lake)
    return counts


# ---------------------------------------------------------------- idempotence


def test_second_ingest_adds_nothing(zeek_fixtures: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first = ingest([zeek_fixtures], lake)
    counts, warnings = table_counts(lake), table_rows(lake, "ingest_warnings").num_rows
    manifest = (lake / "_manifest.jsonl").read_bytes()
    assert counts and warnings and all(f.status == "ingested" for f in first.files)
    assert_clean_bookkeeping(lake)
    again = ingest([zeek_fixtures], lake)
    assert [(f.file, f.status, f.total_rows) for f in again.files] == [
        (f.file, "already ingested", 0) for f in first.files
    ]
    assert table_counts(lake) == counts
    assert table_rows(lake, "ingest_warnings").num_rows == warnings
    assert (lake / "_manifest.jsonl").read_bytes() == manifest
    assert_clean_bookkeeping(lake)


def test_renamed_copy_is_already_ingested(zeek_fixtures: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    original = zeek_fixtures / "valid_conn.log"
    ingest([original], lake)
    counts = table_counts(lake)
    copy = tmp_path / "conn.00:00:00-01:00:00.log"
    shutil.copy(original, copy)
    report = ingest([copy], lake).files[0]
    assert report.status == "already ingested"
    assert str(original) in report.message
    assert table_counts(lake) == counts


def test_manifest_is_read_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "logs"
    write_conn_logs(folder, 12, 5, SEED)
    lake = tmp_path / "lake"
    ingest(sorted(folder.iterdir())[:6], lake)
    loads = Counter()
    real = json.loads

    def counting(text, *args, **kwargs):
        loads["n"] += 1
        return real(text, *args, **kwargs)

    monkeypatch.setattr(winnow.lake.manifest.json, "loads", counting)
    ingest([folder], lake)  # 6 known, 6 new: one read of 6 entries, not one per file
    assert loads["n"] <= 6
    assert len(manifest_entries(lake)) == 12


# ---------------------------------------------------------------- crash safety


def test_killed_ingest_then_rerun_equals_a_clean_run(
    big_input: Path, clean_counts: dict[str, int], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    lake = tmp_path / "lake"
    # somewhere inside the next file: parsing, writing or publishing
    done = kill_mid_ingest(big_input, lake, rng.randint(1, N_FILES - 6), rng.uniform(0, 0.2), N_FILES)

    report = ingest([big_input], lake)
    statuses = Counter(f.status for f in report.files)
    assert statuses["already ingested"] >= done and sum(statuses.values()) == N_FILES
    assert set(statuses) <= {"ingested", "already ingested"}
    assert table_counts(lake) == clean_counts
    assert_no_duplicate_rows(lake)
    assert_clean_bookkeeping(lake)
    entries = manifest_entries(lake)
    assert len(entries) == N_FILES and sum(e["rows"]["net.conn"] for e in entries) == clean_counts["net.conn"]


def test_killed_ingest_of_many_small_files_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Small files are committed in groups sharing Parquet parts: a kill mid-group must still be clean."""
    n_files, n_lines = 400, 400
    folder = tmp_path / "logs"
    write_conn_logs(folder, n_files, n_lines, SEED + 1)
    rng = random.Random(SEED + 1)
    lake = tmp_path / "lake"
    done = kill_mid_ingest(folder, lake, rng.randint(1, 40), rng.uniform(0, 0.3), n_files)
    report = ingest([folder], lake)
    assert sum(f.status == "already ingested" for f in report.files) >= done
    assert table_counts(lake) == {"net.conn": n_files * n_lines}
    assert_no_duplicate_rows(lake)
    assert_clean_bookkeeping(lake)
    assert len(manifest_entries(lake)) == n_files


class SimulatedCrash(Exception):
    """Stands in for the process dying at a chosen point."""


def test_recover_finishes_a_commit_cut_between_journal_and_renames(
    zeek_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    src = zeek_fixtures / "bad_lines.log"  # two days of conn rows and warnings: three parts to move
    real_replace = os.replace
    calls: list[str] = []

    def crashing_replace(a, b):
        calls.append(str(b))
        if len(calls) == 3:  # 1: the journal itself, 2: the first part, 3: crash
            raise SimulatedCrash
        return real_replace(a, b)

    monkeypatch.setattr("winnow.lake.commit.os.replace", crashing_replace)
    with pytest.raises(SimulatedCrash):
        ingest([src], lake)
    monkeypatch.undo()
    assert len(list((lake / "_journal").glob("*.json"))) == 1
    assert manifest_entries(lake) == []
    assert table_counts(lake).get("net.conn", 0) < 5  # the commit is half done

    assert recover(Lake.open(lake)) == 1
    assert table_counts(lake) == {"net.conn": 5}
    assert table_rows(lake, "ingest_warnings").num_rows == 4
    assert [e["file"] for e in manifest_entries(lake)] == [str(src)]
    assert_clean_bookkeeping(lake)
    assert ingest([src], lake).files[0].status == "already ingested"
    assert table_counts(lake) == {"net.conn": 5}


def test_recover_after_the_manifest_append_does_not_duplicate_the_entry(
    zeek_fixtures: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    ingest([zeek_fixtures / "valid_conn.log"], lake)
    entry = manifest_entries(lake)[0]
    # the process died after appending to the manifest but before deleting its journal
    (lake / "_journal").mkdir(exist_ok=True)
    moves = [[str(lake / "_tmp" / "gone" / part), str(lake / part)] for part in entry["parts"]]
    (lake / "_journal" / f"{entry['sha256']}.json").write_text(json.dumps({"entry": entry, "moves": moves}))
    assert recover(Lake.open(lake)) == 1
    assert manifest_entries(lake) == [entry]
    assert table_counts(lake) == {"net.conn": 5}
    assert_clean_bookkeeping(lake)


def test_crash_before_the_journal_leaves_nothing_published(
    zeek_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    src = zeek_fixtures / "valid_conn.log"

    def crash(*_args):
        raise SimulatedCrash

    monkeypatch.setattr("winnow.lake.commit._fsync_write", crash)
    with pytest.raises(SimulatedCrash):
        ingest([src], lake)
    monkeypatch.undo()
    assert files_under(lake / "_tmp") and table_counts(lake) == {} and manifest_entries(lake) == []
    report = ingest([src], lake)  # recovers first: drops the orphaned temporary parts
    assert (report.files[0].status, table_counts(lake)) == ("ingested", {"net.conn": 5})
    assert_clean_bookkeeping(lake)


def test_torn_manifest_line_is_ignored(zeek_fixtures: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ingest([zeek_fixtures / "valid_conn.log"], lake)
    with open(lake / "_manifest.jsonl", "ab") as fh:
        fh.write(b'{"sha256": "abc", "file": "half a line')  # a writer killed mid-append
    report = ingest([zeek_fixtures / "valid_conn.log", zeek_fixtures / "valid_dns.json"], lake)
    assert [f.status for f in report.files] == ["already ingested", "ingested"]
    assert [Path(e["file"]).name for e in manifest_entries_lenient(lake)] == [
        "valid_conn.log",
        "valid_dns.json",
    ]


def manifest_entries_lenient(lake: Path) -> list[dict]:
    out = []
    for line in (lake / "_manifest.jsonl").read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


# ---------------------------------------------------------------- one writer at a time


def test_concurrent_ingest_is_refused_while_another_process_writes(
    big_input: Path, clean_counts: dict[str, int], zeek_fixtures: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    proc = ingest_in_subprocess([big_input], lake)
    try:
        wait_for_commits(proc, lake, 1)
        for _ in range(3):
            with pytest.raises(
                WinnowError, match=f"another ingest is writing to {lake}; wait for it to finish"
            ):
                ingest([zeek_fixtures / "valid_conn.log"], lake)
            time.sleep(0.05)
        assert proc.poll() is None, "the first ingest finished too early for this test"
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert table_counts(lake) == clean_counts  # the refused attempts did not disturb it
    assert_clean_bookkeeping(lake)


def test_refused_ingest_does_not_touch_a_file_being_written(
    zeek_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    errors: list[str] = []
    real_append = FileWriter._append

    def append_then_intrude(self, table_name, day, data):
        real_append(self, table_name, day, data)
        try:  # a second ingest starts while this part is open in _tmp
            ingest([zeek_fixtures / "valid_dns.json"], lake)
        except WinnowError as exc:
            errors.append(str(exc))

    monkeypatch.setattr(FileWriter, "_append", append_then_intrude)
    report = ingest([zeek_fixtures / "valid_conn.log"], lake)
    assert errors and all("another ingest is writing" in e for e in errors)
    assert report.files[0].rows == {"net.conn": 5}
    assert table_counts(lake) == {"net.conn": 5}


# ---------------------------------------------------------------- warnings are data


def test_ingest_warnings_land_in_the_lake(zeek_fixtures: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    src = zeek_fixtures / "bad_json.json"
    report = ingest([src], lake)
    parts = sorted((lake / "ingest_warnings").glob("day=*/*.parquet"))
    assert len(parts) == 1
    data = pads.dataset(parts, format="parquet").to_table()
    assert {"ts", "file", "line", "reason", "snippet", "source_format", "ingest_id"} <= set(data.column_names)
    assert data.schema.field("line").type == pa.int64()
    rows = sorted(data.to_pylist(), key=lambda r: r["line"])
    assert [(r["file"], r["line"], r["reason"], r["snippet"]) for r in rows] == [
        (
            str(src),
            2,
            "not valid JSON: Unterminated string starting at",
            '{"ts": 1517422326.539915, "uid": "CxHo3m4N8uGxrMlcl2", "id.orig_h": "1',
        ),
        (str(src), 3, "JSON value is not an object", "[1, 2, 3]"),
        (str(src), 4, "field 'src_port': cannot read 'abc' as int32", "abc"),
    ]
    assert {(r["source_format"], r["ingest_id"]) for r in rows} == {("zeek_json", report.ingest_id)}


# ---------------------------------------------------------------- CLI smoke


def winnow_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "winnow.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_cli_ingest_missing_path_is_a_one_line_error(tmp_path: Path) -> None:
    result = winnow_cli("ingest", str(tmp_path / "no-such-logs"), "--lake", str(tmp_path / "lake"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"winnow: error: {tmp_path / 'no-such-logs'}: no such file or folder"
    ]


def test_cli_ingest_report_and_warnings_as_jsonl(zeek_fixtures: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = winnow_cli("ingest", str(zeek_fixtures), "--lake", str(lake), "--report", "jsonl")
    assert result.returncode == 0, result.stderr
    report = {Path(r["file"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert (
        report["bad_lines.log"]["status"],
        report["bad_lines.log"]["rows"],
        report["bad_lines.log"]["warnings"],
    ) == ("ingested", 5, 4)
    assert report["unknown_log.log"]["tables"] == {"auth.logon": 3}  # an ssh.log: failed logons
    assert report["valid_dns.json"]["tables"] == {"net.dns": 3}

    result = winnow_cli("warnings", "--lake", str(lake), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    listed = [json.loads(line) for line in result.stdout.splitlines()]
    bad_lines = [
        (r["line"], r["reason"]) for r in listed if r["file"] == str(zeek_fixtures / "bad_lines.log")
    ]
    assert bad_lines == [
        (10, "line has 22 fields, header declares 21: too many fields"),
        (11, "line has 18 fields, header declares 21: cut off (file truncated?)"),
        (12, "field 'src_port': cannot read 'abc' as int32"),
        (13, "invalid UTF-8, undecodable bytes replaced"),
    ]
    assert sum(1 for r in listed if r["file"].endswith("bad_json.json")) == 3

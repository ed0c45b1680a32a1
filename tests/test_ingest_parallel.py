"""Files parsed in worker processes (``ingest.workers``): the same lake as one process, crash-safe, in order."""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from lake_digest import lake_digests
from test_ingest import (
    assert_clean_bookkeeping,
    assert_no_duplicate_rows,
    kill_mid_ingest,
    manifest_entries,
    table_counts,
    write_conn_logs,
)

from winnow.cli.main import cli
from winnow.config import ConfigError, load, use
from winnow.ingest import ingest
from winnow.ingest.workers import in_order

REPO = Path(__file__).resolve().parent.parent
SEED = 20261207
#: what makes both runs group and cut files the same way, and sends files down every path (threaded parse,
#: parts of their own, parts shared with other small files)
SETTINGS = ["ingest.commit_seconds=1000000", "ingest.share_bytes=200000", "ingest.thread_bytes=100000",
            "ingest.commit_rows=20000"]
SHARED = ("evtx-attack-samples/Execution", "netflow-packets", "auditd/izysec-usecases",
          "mordor/atomic/windows/execution/host/psh_powershell_httplistener.zip")


def mixed_folder(root: Path, shared: Path | None) -> Path:
    """Zeek TSV and JSON, Sysmon JSON, auditd, auth syslog, IDS alerts, Argus, nfdump, EVTX, NetFlow v5/v9 (their
    templates carry from file to file), zip and tar members, a gzip copy, a file twice, an unknown file, bad lines."""
    folder = root / "mixed"
    shutil.copytree(REPO / "tests" / "data", folder / "data")
    for sample in sorted((REPO / "tests" / "samples").iterdir()):
        if sample.suffix != ".shared":
            shutil.copy(sample, folder / sample.name)
    write_conn_logs(folder / "conn", 8, 3_000, SEED)
    write_conn_logs(folder / "big", 2, 30_000, SEED + 1)  # parts of their own, published at once
    (folder / "again").mkdir()
    shutil.copy(folder / "conn" / "conn.03:00:00-04:00:00.log", folder / "again" / "same-content.log")
    with gzip.open(folder / "again" / "conn.log.gz", "wb") as fh:
        fh.write((folder / "conn" / "conn.05:00:00-06:00:00.log").read_bytes()[:-7])  # cut in its last line
    with zipfile.ZipFile(folder / "archive.zip", "w") as archive:
        for name in ("windows_json.jsonl", "auditd.log", "zeek_json.log"):
            archive.write(REPO / "tests" / "samples" / name, f"inner/{name}")
    with tarfile.open(folder / "archive.tar.gz", "w:gz") as archive:
        for name in ("suricata_eve.json", "auth_syslog.log"):
            archive.add(REPO / "tests" / "samples" / name, f"inner/{name}")
    if shared is not None:
        for part in SHARED:
            source = shared / part
            if source.is_dir():
                shutil.copytree(source, folder / "shared" / part)
            elif source.is_file():
                (folder / "shared").mkdir(exist_ok=True)
                shutil.copy(source, folder / "shared" / source.name)
    return folder


def assert_rows_match_the_manifest(lake: Path) -> None:
    """Every row of every table is one the manifest counts: nothing lost, nothing twice."""
    import pyarrow.dataset as pads

    expected: Counter = Counter()
    for entry in manifest_entries(lake):
        expected.update(entry["rows"])
    held = {p.name: pads.dataset(p, format="parquet").count_rows() for p in lake.iterdir()
            if p.is_dir() and not p.name.startswith("_") and p.name not in ("ingest_warnings", "net.conn_proc")}
    assert held == {t: n for t, n in expected.items() if n}


def ingest_with(paths: list[Path], lake: Path, workers: int | None, sets: list[str] = SETTINGS, **kwargs):
    with use(load(sets=sets, env={})):
        return ingest(paths, lake, workers=workers, **kwargs)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parallel")
    from conftest import shared_data_path

    shared = shared_data_path()
    return mixed_folder(root, shared if shared.is_dir() else None)


@pytest.fixture(scope="module")
def one_process(mixed: Path, tmp_path_factory: pytest.TempPathFactory):
    """(lake, report) of the mixed folder ingested one file after another."""
    lake = tmp_path_factory.mktemp("one") / "lake"
    return lake, ingest_with([mixed], lake, workers=1)


def test_two_workers_write_the_same_lake_as_one_process(mixed: Path, one_process, tmp_path: Path) -> None:
    lake_1, report_1 = one_process
    lake_2 = tmp_path / "lake"
    seen: list[str] = []
    progress: list[tuple[int, int]] = []
    report_2 = ingest_with([mixed], lake_2, workers=2, on_file=lambda f: seen.append(f.file),
                           on_progress=lambda done, total: progress.append((done, total)))
    digests = lake_digests(lake_1)
    assert lake_digests(lake_2) == digests  # every part of every table (and ingest_warnings), the manifest
    statuses = Counter(f.status for f in report_1.files)
    assert statuses["ingested"] > 30 and statuses["already ingested"] >= 1 and statuses["unrecognized"] >= 1
    assert any(f.warnings for f in report_1.files)
    assert {"net.conn", "net.dns", "proc.exec", "proc.net", "auth.logon", "ids.alert"} <= set(report_1.totals())
    strip = [(f.file, f.status, f.source_format, f.rows, f.warnings, f.skipped, f.message.split(", ingested ")[0])
             for f in report_1.files]
    assert [(f.file, f.status, f.source_format, f.rows, f.warnings, f.skipped, f.message.split(", ingested ")[0])
            for f in report_2.files] == strip
    assert seen == [f.file for f in report_1.files]  # reports come in discovery order
    assert [d for d, _ in progress] == sorted(d for d, _ in progress) and progress[-1][0] == progress[-1][1]
    assert_rows_match_the_manifest(lake_2)
    assert_clean_bookkeeping(lake_2)

    again = ingest_with([mixed], lake_2, workers=2)  # nothing new: every file is known, the lake is unchanged
    assert {f.status for f in again.files} <= {"already ingested", "unrecognized"}
    assert lake_digests(lake_2) == digests
    assert_clean_bookkeeping(lake_2)


def test_warnings_name_their_file_and_line_whatever_the_workers(one_process, tmp_path: Path, mixed: Path) -> None:
    import pyarrow.dataset as pads

    lake_1, report_1 = one_process
    lake_2 = tmp_path / "lake"
    ingest_with([mixed], lake_2, workers=2)
    rows = [sorted(pads.dataset(lake / "ingest_warnings", format="parquet").to_table(
        columns=["file", "line", "reason"]).to_pylist(), key=lambda r: (r["file"], r["line"] or 0, r["reason"]))
        for lake in (lake_1, lake_2)]
    assert rows[0] == rows[1]
    lined = [r for r in rows[1] if r["line"] is not None]
    assert lined and all(Path(r["file"]).exists() or "!" in r["file"] for r in lined)
    assert {r["file"] for r in rows[1]} == {f.file for f in report_1.files if f.warnings}


def test_killed_ingest_with_workers_loses_nothing_on_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of an ingest with two workers mid-run: its workers die with it, the re-run is a clean run."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs Linux's /proc")
    n_files, n_lines = 60, 4_000
    folder = tmp_path / "logs"
    write_conn_logs(folder, n_files, n_lines, SEED + 2)
    lake = tmp_path / "lake"
    monkeypatch.setenv("WINNOW_INGEST_WORKERS", "2")
    monkeypatch.setenv("WINNOW_INGEST_COMMIT_FILES", "4")
    children: list[int] = []
    done = kill_mid_ingest(folder, lake, 8, 0.0, n_files, lambda pid: children.extend(_children(pid)))
    assert len(children) == 2, children
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children):  # a worker left behind would hold the lake's lock
        assert time.monotonic() < deadline, "a worker outlived the killed ingest"
        time.sleep(0.05)

    report = ingest_with([folder], lake, workers=2, sets=[])
    statuses = Counter(f.status for f in report.files)
    assert statuses["already ingested"] >= done and set(statuses) <= {"ingested", "already ingested"}
    assert table_counts(lake) == {"net.conn": n_files * n_lines}
    assert_no_duplicate_rows(lake)
    assert_clean_bookkeeping(lake)
    assert len(manifest_entries(lake)) == n_files


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has died (its parent, now init, has yet to reap it)


def test_workers_setting_and_flag(tmp_path: Path, mixed: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(mixed / "conn"), "--lake", str(tmp_path / "a"), "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    result = runner.invoke(cli, ["ingest", str(mixed / "conn"), "--lake", str(tmp_path / "a"), "--workers", "2",
                                 "--report", "jsonl"])
    assert result.exit_code == 0, result.output
    assert result.output.count('"status": "ingested"') == 8
    with pytest.raises(ConfigError, match="ingest.workers: expected 0 .one per core. or more, got -1"):
        ingest_with([mixed / "conn"], tmp_path / "b", None, sets=["ingest.workers=-1"])
    report = ingest_with([mixed / "conn"], tmp_path / "c", None, sets=["ingest.workers=3"])
    assert [f.status for f in report.files] == ["ingested"] * 8


def test_one_per_core_starts_no_worker_for_a_small_input(mixed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest.workers 0: inputs under ingest.workers_min_bytes stay in this process; given counts are obeyed."""
    from winnow.ingest.discover import discover
    from winnow.ingest.run import _workers

    monkeypatch.setattr("winnow.ingest.run.cores", lambda: 4)
    files = list(discover([mixed / "conn"]))
    size = sum(f.size for f in files)
    assert _workers(load(sets=[f"ingest.workers_min_bytes={size + 1}"], env={}), None, files) == 1
    assert _workers(load(sets=[f"ingest.workers_min_bytes={size}"], env={}), None, files) == 4
    assert _workers(load(sets=[f"ingest.workers_min_bytes={size + 1}", "ingest.workers=2"], env={}), None, files) == 2
    assert _workers(load(sets=[f"ingest.workers_min_bytes={size + 1}"], env={}), 3, files) == 3


def _started(folder: Path, number: int) -> int:
    (folder / f"started-{number}").touch()
    if number == 5:
        raise ValueError("item 5 is bad")
    return os.getpid()


def test_in_order_bounds_the_work_ahead_and_raises_at_the_turn_of_the_failing_item(tmp_path: Path) -> None:
    batches = [[n] for n in range(0, 12) if n != 2]  # item 2 stays with the caller
    results = in_order(12, lambda n: _started(tmp_path, n), batches, 2)
    first = next(results)
    time.sleep(0.5)
    assert first[0] == 0 and first[1] != os.getpid()
    assert len(list(tmp_path.glob("started-*"))) <= 4  # two at work, two done and waiting: never all twelve
    number, pid = next(results)
    assert number == 1 and pid != os.getpid()
    assert next(results) == (2, None)
    assert [n for n, _ in (next(results), next(results))] == [3, 4]
    with pytest.raises(ValueError, match="item 5 is bad"):
        next(results)
    assert len(list(tmp_path.glob("started-*"))) < 12
    # within a batch: the items before the failing one are kept, the error comes at its own turn
    results = in_order(7, lambda n: _started(tmp_path, n), [[0, 1, 2], [3, 4, 5, 6]], 2)
    assert [next(results)[0] for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="item 5 is bad") as raised:
        next(results)
    assert any("in an ingest worker process" in note for note in raised.value.__notes__)
    # a batch of small items around large ones: it is sent first, its late item waits for its turn
    results = in_order(7, lambda n: os.getpid(), [[0, 6], [1], [2], [3], [4], [5]], 1)
    assert [n for n, _ in results] == list(range(7))

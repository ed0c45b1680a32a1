"""Files parsed as Spark tasks (``winnow ingest --engine spark``): the same lake as worker processes, in local mode."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from lake_digest import lake_digests
from test_ingest import assert_clean_bookkeeping, table_counts
from test_ingest_parallel import assert_rows_match_the_manifest, ingest_with, mixed_folder

import winnow.ingest.run as run_module
from winnow.cli.main import cli

pytest.importorskip("pyspark")

MASTER = "local[2]"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import shared_data_path

    shared = shared_data_path()
    return mixed_folder(tmp_path_factory.mktemp("spark"), shared if shared.is_dir() else None)


def _report(report) -> list[tuple]:
    return [(f.file, f.status, f.source_format, f.rows, f.warnings, f.skipped, f.message.split(", ingested ")[0])
            for f in report.files]


def _warnings(lake: Path) -> list[dict]:
    import pyarrow.dataset as pads

    rows = pads.dataset(lake / "ingest_warnings", format="parquet").to_table(columns=["file", "line", "reason"])
    return sorted(rows.to_pylist(), key=lambda r: (r["file"], r["line"] or 0, r["reason"]))


def test_spark_tasks_write_the_same_lake_as_worker_processes(mixed: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    local, spark = tmp_path / "local", tmp_path / "spark"
    report_local = ingest_with([mixed], local, workers=2)

    def not_here(*args, **kwargs):
        raise AssertionError("a file sent to Spark was parsed by the driver")

    # the executors' Python processes import winnow afresh: this stands only in the driver
    monkeypatch.setattr(run_module, "_parse_detached", not_here)
    seen: list[str] = []
    report_spark = ingest_with([mixed], spark, workers=None, engine=MASTER, on_file=lambda f: seen.append(f.file))
    digests = lake_digests(local)
    assert lake_digests(spark) == digests  # every part of every table, ingest_warnings, the manifest
    assert _report(report_spark) == _report(report_local)
    assert seen == [f.file for f in report_local.files]  # in discovery order
    statuses = Counter(f.status for f in report_spark.files)
    assert statuses["ingested"] > 30 and statuses["already ingested"] >= 1 and statuses["unrecognized"] >= 1
    assert_rows_match_the_manifest(spark)
    assert_clean_bookkeeping(spark)

    # warnings name their file and line, as a local ingest's do
    warnings = _warnings(spark)
    assert warnings == _warnings(local)
    lined = [r for r in warnings if r["line"] is not None]
    assert lined and all(Path(r["file"]).exists() or "!" in r["file"] for r in lined)

    # a re-run adds nothing, also when a new file brings Spark back to work
    shutil.copy(mixed / "conn" / "conn.03:00:00-04:00:00.log", tmp_path / "copy.log")
    again = ingest_with([mixed, tmp_path / "copy.log"], spark, workers=None, engine=MASTER)
    assert {f.status for f in again.files} <= {"already ingested", "unrecognized"}
    assert lake_digests(spark) == digests
    assert_clean_bookkeeping(spark)


def test_engine_flag(tmp_path: Path, mixed: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(mixed / "conn"), "--lake", str(tmp_path / "a"), "--engine", MASTER,
                                 "--report", "jsonl"])
    assert result.exit_code == 0, result.output
    assert result.output.count('"status": "ingested"') == 8
    assert table_counts(tmp_path / "a") == {"net.conn": 8 * 3_000}
    result = runner.invoke(cli, ["ingest", str(mixed / "conn"), "--lake", str(tmp_path / "b"), "--engine", "nope"])
    assert result.exit_code != 0 and "unknown engine 'nope'" in str(result.exception)
    assert not (tmp_path / "b" / "_manifest.jsonl").exists()


def test_in_turn_orders_batch_results_and_raises_at_the_failing_items_turn() -> None:
    from winnow.ingest.workers import in_turn, run_batch

    def work(number: int) -> int:
        if number == 5:
            raise ValueError("item 5 is bad")
        return number * 10

    batches = [[0, 6], [1], [3, 4, 5]]  # item 2 stays with the caller; 6 waits for its turn
    results = in_turn(7, batches, iter([run_batch(work, batch) for batch in batches]))
    assert [next(results) for _ in range(5)] == [(0, 0), (1, 10), (2, None), (3, 30), (4, 40)]
    with pytest.raises(ValueError, match="item 5 is bad"):
        next(results)

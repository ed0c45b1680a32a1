"""Both engines see the same lake the same way."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from zeekgen import long_conn_fixture

from winnow.engine import Window, connect, fetch
from winnow.errors import MissingExtraError, WinnowError
from winnow.ingest import ingest


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    long_conn_fixture(root / "logs")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", ["duckdb", "spark"])
def test_tables_counts_and_window(lake, url):
    with connect(url, lake) as engine:
        conn = engine.table("net.conn")
        assert conn.count().execute() == 56
        assert engine.table("net.dns") is None
        since = dt.datetime(2026, 11, 2, 0, 1, 40, tzinfo=dt.UTC)
        windowed = engine.table("net.conn", Window(since=since))
        assert windowed.count().execute() == 51
        rows = fetch(conn.filter(conn.uid == "CLong1").select("ts", "src_ip", "duration", "extra"))
        assert rows.schema.field("ts").type.tz == "UTC"
        first = rows.to_pylist()[0]
        assert first["ts"] == dt.datetime(2026, 11, 2, 0, 0, 10, tzinfo=dt.UTC)
        assert first["duration"] == 30000.0


def test_same_schema_on_both_engines(lake):
    with connect("duckdb", lake) as duck, connect("spark", lake) as spark:
        assert list(duck.table("net.conn").schema().names) == list(spark.table("net.conn").schema().names)


def test_unknown_engine_is_a_user_error(lake):
    with pytest.raises(WinnowError, match="unknown engine"):
        connect("oracle", lake)


def test_missing_pyspark_names_the_extra(lake, monkeypatch):
    from winnow.engine import spark_engine

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    monkeypatch.setattr(spark_engine, "_SESSIONS", {})
    with pytest.raises(MissingExtraError, match=r"pip install 'winnow\[spark\]'"):
        connect("spark", lake)


@pytest.mark.parametrize("url", ["duckdb", "spark"])
def test_batches_stream_the_same_rows_as_fetch(lake, url):
    with connect(url, lake) as engine:
        conn = engine.table("net.conn")
        expr = conn.select("ts", "uid", "duration").order_by("uid")
        whole = fetch(expr)
        batches = list(engine.batches(expr, rows=10))
    assert all(b.num_rows <= 10 for b in batches) and len(batches) >= 6
    assert all(b.schema.field("ts").type.tz == "UTC" for b in batches)
    streamed = [row for b in batches for row in b.to_pylist()]
    assert streamed == whole.to_pylist()


def test_duckdb_memory_budget_and_private_spill_folder(lake, monkeypatch):
    import os

    monkeypatch.setenv("WINNOW_MEMORY", "300MB")
    with connect("duckdb", lake) as engine:
        limit, spill = engine.backend.raw_sql(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()[0]
        assert limit.replace(" ", "") in ("286.1MiB", "300.0MB", "300MB")
        assert os.path.basename(spill).startswith("winnow-spill-") and os.path.isdir(spill)
    assert not os.path.exists(spill)  # removed on close
    monkeypatch.setenv("WINNOW_MEMORY", "lots")
    with pytest.raises(WinnowError, match="WINNOW_MEMORY"):
        connect("duckdb", lake)


def test_running_out_of_memory_is_a_one_line_user_error(lake, monkeypatch, capsys):
    """A real DuckDB out-of-memory error (a string aggregate past a 20 MB budget) is recognised, and the
    CLI turns it into one line naming the setting to raise, not an internal error."""
    import duckdb

    from winnow.cli.main import main
    from winnow.engine.base import memory_hint, out_of_memory

    monkeypatch.setenv("WINNOW_MEMORY", "20MB")
    with connect("duckdb", lake) as engine:
        with pytest.raises(duckdb.OutOfMemoryException) as caught:
            engine.backend.raw_sql("SELECT string_agg(i::VARCHAR, ',') FROM range(10000000) t(i)").fetchall()
    assert out_of_memory(caught.value) and not out_of_memory(ValueError("x"))
    assert "WINNOW_MEMORY" in memory_hint() and "20MB" in memory_hint()

    def exhausted(*args, **kwargs):
        raise caught.value

    monkeypatch.setattr("winnow.cli.main.cli.main", exhausted)
    with pytest.raises(SystemExit) as code:
        main(["detect", "--lake", str(lake)])
    err = capsys.readouterr().err
    assert code.value.code == 1 and err.startswith("winnow: error: the engine ran out of memory")
    assert "internal error" not in err and len(err.strip().splitlines()) == 1

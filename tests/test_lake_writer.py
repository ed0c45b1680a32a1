"""The lake's file writer: rows of many days buffered within bounds, every row in its day's part once."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.lake import FileWriter, Lake
from winnow.lake import writer as lake_writer

DAY0 = dt.datetime(2016, 7, 8, tzinfo=dt.UTC)


def batch(first: int, days: int, rows_per_day: int) -> pa.Table:
    """net.conn rows on ``days`` consecutive days from day ``first``, ``rows_per_day`` each."""
    ts = [DAY0 + dt.timedelta(days=first + d, seconds=17 * r) for d in range(days) for r in range(rows_per_day)]
    return pa.table({"ts": pa.array(ts, pa.timestamp("us", "UTC")),
                     "uid": [f"C{first}-{i}" for i in range(len(ts))],
                     "_line": pa.array(range(len(ts)), pa.int64())})


def test_a_file_of_many_sparse_days_stays_under_the_total_buffer(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past TOTAL_BUFFER_BYTES every day's rows are written; what is held is tracked exactly; no row lost."""
    lake = Lake.open(tmp_path / "lake", create=True)
    limit = batch(0, 5, 20).nbytes * 2  # about ten days of rows
    monkeypatch.setattr(lake_writer, "TOTAL_BUFFER_BYTES", limit)
    writer = FileWriter(lake, "part-000000", "run", "sparse.log", "test")
    written = []
    flushed = False
    for first in range(0, 60, 5):
        data = batch(first, 5, 20)
        writer.write("net.conn", data)
        written.append(data)
        held = sum(t.nbytes for tables in writer._buffers.values() for t in tables)
        assert writer.buffered == held  # the running total is the sum of what is held
        assert held < limit + data.nbytes
        flushed = flushed or not writer.in_memory
    assert flushed  # the total bound was reached: parts were opened before close
    moves = writer.close("ab" * 32)
    assert writer.buffered == 0
    assert len(moves) == 60  # one part per day
    by_day = {}
    for tmp, final in moves:
        part = pq.read_table(tmp, columns=["ts", "uid"])
        days = {t.date() for t in part["ts"].to_pylist()}
        assert days == {dt.date.fromisoformat(final.parent.name[len("day="):])}
        by_day[final.parent.name] = part
    got = sorted(uid for part in by_day.values() for uid in part["uid"].to_pylist())
    assert got == sorted(uid for data in written for uid in data["uid"].to_pylist())


def test_take_hands_over_every_buffered_row_and_resets_the_count(tmp_path) -> None:
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = FileWriter(lake, "part-000001", "run", "small.log", "test")
    writer.write("net.conn", batch(0, 3, 4))
    assert writer.in_memory and writer.buffered > 0
    taken = writer.take()
    assert sorted(day for _, day in taken) == ["2016-07-08", "2016-07-09", "2016-07-10"]
    assert sum(t.num_rows for tables in taken.values() for t in tables) == 12
    assert writer.buffered == 0 and writer.take() == {}


@pytest.mark.parametrize("buffer", ["0", "1"])
def test_parts_are_the_same_bytes_whatever_the_write_buffer(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                           buffer: str) -> None:
    """ingest.write_buffer_bytes only changes how the bytes reach the file (0: unbuffered; 1: a buffer smaller
    than every write); a part left unflushed or cut short would differ."""
    from winnow.lake.writer import SharedParts

    def parts(name: str) -> dict[str, bytes]:
        lake = Lake.open(tmp_path / name, create=True)
        writer = FileWriter(lake, "part-000000", "run", "big.log", "test")
        writer.write("net.conn", batch(0, 4, 3000))
        writer._flush(("net.conn", "2016-07-09"))  # one part opened before close, written in two row groups
        writer.write("net.conn", batch(1, 1, 500))
        shared = SharedParts(lake, "run")
        small = FileWriter(lake, "part-000001", "run", "small.log", "test")
        small.write("net.conn", batch(2, 3, 7))
        shared.add("cd" * 32, small.take())
        moves = writer.close("ab" * 32) + list(shared.close().values())
        return {final.relative_to(lake.root).as_posix(): tmp.read_bytes() for tmp, final in moves}

    default = parts("default")
    monkeypatch.setenv("WINNOW_INGEST_WRITE_BUFFER_BYTES", buffer)
    other = parts("other")
    assert len(default) == 7 and other == default
    assert all(pq.read_metadata(pa.BufferReader(data)).num_rows for data in default.values())


def test_evtx_lakes_are_the_same_rows_whatever_the_write_buffer(shared_data, tmp_path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table's rows (sorted), warnings included, on the attack samples and the parser corpus: unbuffered
    part writes (as before ingest.write_buffer_bytes) against the default buffer."""
    from lake_digest import table_digests

    from winnow.pipeline.ingest import ingest

    files = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx")) + sorted(
        (shared_data / "evtx-parser-corpus").glob("*.evtx"))
    ingest(files, tmp_path / "buffered", workers=1)
    monkeypatch.setenv("WINNOW_INGEST_WRITE_BUFFER_BYTES", "0")
    ingest(files, tmp_path / "unbuffered", workers=1)
    buffered = table_digests(tmp_path / "buffered")
    assert buffered == table_digests(tmp_path / "unbuffered")
    assert {"win.event", "proc.exec", "auth.logon", "ingest_warnings"} <= set(buffered)
    assert buffered["win.event"][0] == 16_208 - 7  # every record; the attack sample stored twice (7) counts once

"""Compaction: small parts merged level by level through the commit protocol, and a SIGKILL at any point."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.lake import Commit, FileWriter, Lake, Manifest, ManifestEntry, lake_lock, publish
from winnow.lake.compact import Compactor, level
from winnow.lake.conform import layout

SEED = 20260601
DAY0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def small_lake(root: Path, days: int, parts_per_day: int, rows: int) -> Lake:
    """A lake holding ``days * parts_per_day`` small net.conn parts, each published as a collector's flush."""
    lake = Lake.open(root, create=True)
    rng = random.Random(SEED)
    commit = Commit()
    with lake_lock(lake):
        for n in range(days * parts_per_day):
            day = DAY0 + dt.timedelta(days=n % days)
            source = f"udp://127.0.0.1:9/192.0.2.{n % 3}"
            data = pa.table({
                "ts": pa.array([day + dt.timedelta(seconds=rng.uniform(0, 86_399)) for _ in range(rows)],
                               pa.timestamp("us", "UTC")),
                "uid": [f"F{n}-{i}" for i in range(rows)],
                "src_ip": [f"10.0.{n % 256}.{i % 256}" for i in range(rows)],
                "_line": pa.array(range(rows), pa.int64()),
            })
            sha = hashlib.sha256(f"{source}|{n}".encode()).hexdigest()
            writer = FileWriter(lake, f"part-{n:06d}", "setup", source, "netflow")
            writer.write("net.conn", data)
            moves = writer.close(sha)
            commit.add(ManifestEntry(sha, source, "netflow", "collect-setup", "2026-06-01T00:00:00+00:00",
                                     rows=dict(writer.rows), parts=[str(b.relative_to(lake.root)) for _, b in moves]),
                       moves)
        publish(lake, commit)
    return lake


def rows(lake: Path) -> Counter:
    parts = sorted((lake / "net.conn").glob("day=*/*.parquet"))
    data = pa.concat_tables(pq.read_table(p, columns=["uid", "_source_file", "ts"]) for p in parts)
    return Counter(zip(*(data[c].to_pylist() for c in data.column_names), strict=True))


def assert_consistent(lake: Path, expected: Counter) -> None:
    """Every row once, no leftovers, and the manifest names exactly the parts that exist."""
    assert rows(lake) == expected
    for folder in (lake / "_tmp", lake / "_journal"):
        assert not folder.exists() or list(folder.iterdir()) == [], folder
    entries = Manifest(Lake(lake)).entries().values()
    named = {p for e in entries for p in e.parts}
    assert named == {str(p.relative_to(lake)) for p in lake.glob("net.conn/day=*/*.parquet")}
    assert sum(e.rows["net.conn"] for e in entries) == sum(expected.values())


#: merge every part of a lake, 4 at a time, level by level (a collector's shutdown, with many parts)
COMPACT_ALL = """
import sys
from winnow.lake import Lake, Manifest, lake_lock
from winnow.lake.compact import Compactor

lake = Lake(__import__("pathlib").Path(sys.argv[1]))
with lake_lock(lake):
    manifest = Manifest(lake)
    compactor = Compactor(lake, "compact-test", 4, 1 << 40)
    for entry in manifest.entries().values():
        for part in entry.parts:
            compactor.add(part)
    compactor.compact(manifest, final=True)
"""


def test_parts_merge_level_by_level_and_the_manifest_follows(tmp_path: Path) -> None:
    lake = small_lake(tmp_path / "lake", days=2, parts_per_day=11, rows=50)
    before = rows(lake.root)
    with lake_lock(lake):
        manifest = Manifest(lake)
        compactor = Compactor(lake, "compact-test", 4, 1 << 40)
        for entry in manifest.entries().values():
            for part in entry.parts:
                compactor.add(part)
        assert compactor.compact(manifest) == 4  # 11 parts a day: two merges of 4 a day, 3 left as they are
        names = sorted(p.name for p in lake.root.glob("net.conn/day=*/*.parquet"))
        assert Counter(level(n) for n in names) == {0: 6, 1: 4}
        assert compactor.compact(manifest, final=True) == 4  # at shutdown: 3 -> 1, then 1 + 2 -> 1 a day
    assert [len(list(d.glob("*.parquet"))) for d in sorted((lake.root / "net.conn").iterdir())] == [1, 1]
    assert {level(p.name) for p in lake.root.glob("net.conn/day=*/*.parquet")} == {2}
    assert_consistent(lake.root, before)
    merged = pq.ParquetFile(next(lake.root.glob("net.conn/day=*/*.parquet")))
    declared = layout("net.conn")[0]
    assert [(f.name, f.type) for f in merged.schema_arrow] == [(f.name, f.type) for f in declared]
    assert merged.metadata.row_group(0).column(0).compression == "SNAPPY"


def test_big_parts_are_left_alone(tmp_path: Path) -> None:
    lake = small_lake(tmp_path / "lake", days=1, parts_per_day=6, rows=50)
    size = min(p.stat().st_size for p in lake.root.glob("net.conn/day=*/*.parquet"))
    with lake_lock(lake):
        manifest = Manifest(lake)
        compactor = Compactor(lake, "compact-test", 2, 2 * size)  # parts of size or more are final
        for entry in manifest.entries().values():
            for part in entry.parts:
                compactor.add(part)
        assert compactor.compact(manifest, final=True) == 0


def test_killed_compaction_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """SIGKILL a compaction of many small parts (several times, at random points), then finish it."""
    lake = small_lake(tmp_path / "lake", days=4, parts_per_day=40, rows=400).root
    expected = rows(lake)
    rng = random.Random(SEED)
    killed = 0
    for _ in range(3):
        lines = len((lake / "_manifest.jsonl").read_bytes().splitlines())
        proc = subprocess.Popen([sys.executable, "-c", COMPACT_ALL, str(lake)], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len((lake / "_manifest.jsonl").read_bytes().splitlines()) == lines:  # a first merge committed
                if proc.poll() is not None:
                    pytest.fail(f"compaction ended early: {proc.stderr.read().decode()[-2000:]}")
                assert time.monotonic() < deadline, "compaction too slow"
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.15))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
        if proc.returncode == 0:
            break  # it finished before the kill landed
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        killed += 1
        with lake_lock(Lake(lake)):  # the next writer finishes or drops what was cut off
            pass
        assert_consistent(lake, expected)
    assert killed, "no kill landed mid-compaction"
    subprocess.run([sys.executable, "-c", COMPACT_ALL, str(lake)], check=True)
    assert_consistent(lake, expected)
    assert [len(list(d.glob("*.parquet"))) for d in sorted((lake / "net.conn").iterdir())] == [1] * 4
    assert len(Manifest(Lake(lake)).entries()) == 4 * 40

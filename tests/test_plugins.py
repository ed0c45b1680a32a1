"""Conformance: every registered source and engine honours its contract."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import re
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pytest
from conftest import engine_params, ingested_lake
from zeekgen import long_conn_fixture

from winnow.engine import Engine, Window, connect, engine_names, engines, fetch
from winnow.engine.registry import engine_for
from winnow.errors import MissingExtraError
from winnow.schema import TABLES
from winnow.sources import ParseContext, sources

JUNK = [b"", b"\x00\x01\x02garbage", b"hello world\n", b"{not json\n", "é€\n".encode("utf-16")]


@pytest.mark.parametrize("name", sorted(sources()))
def test_source_declares_itself(name):
    source = sources()[name]
    assert source.name == name and source.description
    assert source.tables and set(source.tables) <= set(TABLES)


@pytest.mark.parametrize("name", sorted(sources()))
@pytest.mark.parametrize("junk", JUNK)
def test_source_rejects_junk_and_survives_it(name, junk):
    source = sources()[name]
    assert source.sniff(junk, "conn.log") is False
    ctx = ParseContext("junk.log")
    batches = list(source.parse(io.BytesIO(junk), ctx))  # never raises on junk
    assert sum(b.data.num_rows for b in batches) == 0


SAMPLES = Path(__file__).parent / "samples"


def _sample(name: str, tmp_path: Path) -> Path:
    """The conformance sample of a source: ``tests/samples/<name>.*`` (a small hand-written file), or for
    binary formats ``tests/samples/<name>.shared`` holding a path inside the shared real-data folder."""
    found = sorted(SAMPLES.glob(f"{name}.*"))
    assert found, f"add a conformance sample tests/samples/{name}.<ext> for source {name!r}"
    if found[0].suffix == ".shared":
        from conftest import shared_data_path

        path = shared_data_path() / found[0].read_text().strip()
        if not path.exists():
            pytest.skip(f"shared test data not found at {path}")
        return path
    return found[0]


@pytest.mark.parametrize("name", sorted(sources()))
def test_batches_match_declared_tables(name, tmp_path):
    source = sources()[name]
    data = _sample(name, tmp_path)
    raw = data.read_bytes()
    assert source.sniff(raw[:65536], data.name)
    ctx = ParseContext(data.name)
    batches = list(source.parse(io.BytesIO(raw), ctx))
    assert not ctx.warnings
    for batch in batches:
        table = TABLES[batch.table]
        assert batch.table in source.tables
        assert set(batch.data.column_names) <= {c.name for c in table.all_columns}
        assert {"_line", "extra"} <= set(batch.data.column_names)
        assert not {"_source_file", "_source_format", "_ingest_id"} & set(batch.data.column_names), \
            "provenance is added by ingest, never by a parser"


# --------------------------------------------------------------------------------------------
# Engines: every registered engine declares itself, loads lazily and serves the lake the same way.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", engine_names())
def test_engine_declares_itself(name):
    spec = engines()[name]
    assert spec.name == name and spec.description and spec.module.startswith("winnow.engine.")
    for url in (name, *spec.urls):
        assert engine_for(url) is spec, f"{url!r}, shown as a URL of {name}, selects {engine_for(url).name}"
    if spec.installed():
        cls = spec.load()
        assert issubclass(cls, Engine) and cls.name == name and not inspect.isabstract(cls)
    else:  # a missing extra is a user error carrying its install hint
        with pytest.raises(MissingExtraError, match=re.escape(spec.install_hint)):
            spec.load()


@pytest.fixture(scope="module")
def engine_lake(tmp_path_factory):

    return ingested_lake(tmp_path_factory, "engine-conformance", long_conn_fixture)


PER_PORT = pa.schema([("dst_port", pa.int64()), ("n", pa.int64()), ("first", pa.int64()),
                      ("no_duration", pa.int64())])


@pytest.mark.parametrize("name", engine_params())
def test_engine_honours_the_contract(name, engine_lake):
    spec = engines()[name]
    if not spec.installed():
        pytest.skip(f"engine {name} is not installed: {spec.install_hint}")
    declared = [c.name for c in TABLES["net.conn"].all_columns]

    def per_port(key, cols):  # local, so Spark's workers receive it by value (they cannot import tests/)
        return [{"dst_port": key["dst_port"], "n": len(cols["ts"]), "first": int(cols["ts"].min()),
                 "no_duration": int(np.isnan(cols["duration"].astype(float)).sum())}]

    with connect(name, engine_lake) as engine:
        assert isinstance(engine, Engine) and engine.name == name and engine.lake.root == engine_lake
        assert engine.table("net.dns") is None  # a table the lake does not have
        conn = engine.table("net.conn")
        assert list(conn.schema().names) == declared  # the declared columns in order, no partition column
        assert conn.count().execute() == 56
        since = dt.datetime(2026, 11, 2, 0, 1, 40, tzinfo=dt.UTC)
        assert engine.table("net.conn", Window(since=since)).count().execute() == 51
        expr = conn.select("ts", "uid", "dst_port", "duration").order_by("uid")
        whole = fetch(expr)
        assert whole.schema.field("ts").type == pa.timestamp("us", tz="UTC")
        assert whole.to_pylist()[0] == {"ts": dt.datetime(2026, 11, 2, 0, 0, 10, tzinfo=dt.UTC), "uid": "CLong1",
                                        "dst_port": 22, "duration": 30000.0}
        batches = list(engine.batches(expr, rows=16))
        assert all(b.num_rows <= 16 for b in batches) and len(batches) >= 4
        assert [r for b in batches for r in b.to_pylist()] == whole.to_pylist()
        grouped = engine.map_groups(conn, ["dst_port"], ["ts", "duration"], per_port, PER_PORT)
        # SQL compiled once over an unbound table runs on a temporary table materialized from the lake
        engine.materialize(conn.filter(conn.dst_port == 22).select("ts", "uid", "dst_port"), "contract_tmp")
        unbound = ibis.table({"ts": "timestamp('UTC')", "uid": "string", "dst_port": "int32"}, name="contract_tmp")
        sql = engine.sql(unbound.filter(unbound.uid == "CLong1").select("ts", "uid"))
        assert engine.query(sql).to_pylist() == [{"ts": whole.to_pylist()[0]["ts"], "uid": "CLong1"}]
        engine.drop("contract_tmp")
        engine.drop("contract_tmp")  # dropping what is gone is no error
        with pytest.raises(Exception):  # noqa: B017,PT011 - each engine raises its own "no such table"
            engine.query(sql)
    assert grouped.schema == PER_PORT
    expected = {}
    for row in whole.to_pylist():
        micros = int(row["ts"].timestamp() * 1_000_000)
        n, first, missing = expected.get(row["dst_port"], (0, micros, 0))
        expected[row["dst_port"]] = (n + 1, min(first, micros), missing + (row["duration"] is None))
    assert {r["dst_port"]: (r["n"], r["first"], r["no_duration"]) for r in grouped.to_pylist()} == expected

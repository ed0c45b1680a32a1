"""Conformance: every registered source honours the source contract."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

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

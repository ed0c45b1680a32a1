"""Conformance: every registered source honours the source contract."""

from __future__ import annotations

import io

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


@pytest.mark.parametrize("name", sorted(sources()))
def test_batches_match_declared_tables(name, tmp_path):
    from zeekgen import conn_line, write_conn_log

    source = sources()[name]
    if name == "zeek_tsv":
        data = write_conn_log(tmp_path / "c.log", [conn_line(1793577600.0, "C1", "10.0.0.1", 1, "10.0.0.2", 2)])
    else:
        data = tmp_path / "c.json"
        data.write_text('{"ts": 1793577600.0, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 1, '
                        '"id.resp_h": "10.0.0.2", "id.resp_p": 2, "proto": "tcp", "conn_state": "SF"}\n')
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

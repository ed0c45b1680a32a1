"""Suricata EVE JSON: ``alert`` records -> ids.alert; ``flow``/``dns``/``http``/``tls`` -> net.* (eve_fields).

Other event types (stats, fileinfo, anomaly, smb, dcerpc ...) and records without an ``event_type`` are
counted as unsupported, never errors. A block is read by Arrow's JSON reader with the schema of
:mod:`winnow.sources.eve_fields`; a block it rejects is re-read line by line so that only the bad lines
(not JSON, not an object, a field of the wrong type) are lost, each with a located warning. Alert records
are decoded by Python's ``json`` for their rule metadata (any keys).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import count_lines, read_blocks, split_lines
from winnow.sources.eve_fields import EVE_TABLES, READ_SCHEMA, answered_queries, lower_proto, map_columns
from winnow.sources.ids_rows import alert_batch, attack_ids, metadata_text
from winnow.sources.registry import register
from winnow.sources.table_batch import table_batch

_PARSE = pajson.ParseOptions(explicit_schema=READ_SCHEMA, unexpected_field_behavior="ignore")
_READ = pajson.ReadOptions(block_size=4 << 20)
_EVENT_TYPE = re.compile(rb'"event_type"\s*:\s*"')
_TIMESTAMP = re.compile(rb'"timestamp"\s*:')


@register
class SuricataEve(Source):
    name: ClassVar[str] = "suricata_eve"
    description: ClassVar[str] = (
        "Suricata EVE JSON (eve.json): alert -> ids.alert; flow, dns, http, tls -> net.conn/dns/http/tls"
    )
    tables: ClassVar[tuple[str, ...]] = ("ids.alert", "net.conn", "net.dns", "net.http", "net.tls")

    def sniff(self, head: bytes, filename: str) -> bool:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
        return first.startswith(b"{") and bool(_EVENT_TYPE.search(first)) and bool(_TIMESTAMP.search(first))

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        for block, first in read_blocks(stream, ctx):
            raws = split_lines(block)
            table, lines, abandon = _fast(block, first)
            if table is None:
                table, lines, abandon = _careful(raws, first, ctx)
            if table is not None and table.num_rows:
                yield from _by_event_type(table.flatten().flatten(), lines, raws, first, ctx)
            if abandon is not None:
                raise abandon


def _fast(block: bytes, first: int) -> tuple[pa.Table | None, np.ndarray, None]:
    if b"\n\n" in block or block.startswith(b"\n") or b"\r" in block:
        return None, np.empty(0, np.int64), None
    try:
        table = pajson.read_json(io.BytesIO(block), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowInvalid, ValueError):
        return None, np.empty(0, np.int64), None
    n = count_lines(block)
    if table.num_rows != n:
        return None, np.empty(0, np.int64), None
    return table, np.arange(first, first + n, dtype=np.int64), None


def _careful(raws: list[bytes], first: int, ctx: ParseContext
             ) -> tuple[pa.Table | None, np.ndarray, AbandonFile | None]:
    """Line by line: JSON objects only, then each line Arrow still rejects on its own is reported."""
    parts: list[pa.Table] = []
    lines: list[int] = []
    objects: list[dict] = []
    abandon = None
    try:
        for i, raw in enumerate(raws):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                ctx.warn(first + i, f"not valid JSON: {getattr(exc, 'msg', exc)}", raw)
                continue
            if not isinstance(obj, dict):
                ctx.warn(first + i, "JSON value is not an object", raw)
                continue
            objects.append(obj)
            lines.append(first + i)
    except AbandonFile as exc:
        abandon = exc
    if not objects:
        return None, np.empty(0, np.int64), abandon
    # the objects as Python read them (a key given twice: the last value) in one read; when a field has
    # the wrong type somewhere, Arrow refuses the block and the loop below finds and reports the lines
    with contextlib.suppress(pa.ArrowInvalid, ValueError):
        text = "\n".join(json.dumps(o) for o in objects).encode() + b"\n"
        table = pajson.read_json(io.BytesIO(text), read_options=_READ, parse_options=_PARSE)
        if table.num_rows == len(objects):
            return table, np.asarray(lines, dtype=np.int64), abandon
    good: list[int] = []
    for line, obj in zip(lines, objects, strict=True):  # a field of the wrong type: find the lines
        raw = raws[line - first]
        try:
            parts.append(_read_one(raw, obj))
        except (pa.ArrowInvalid, ValueError) as exc:
            try:
                ctx.warn(line, f"a field has an unexpected type: {str(exc).splitlines()[0][:200]}", raw)
            except AbandonFile as stop:
                abandon = abandon or stop
                break
            continue
        good.append(line)
    lines = good
    if not parts:
        return None, np.empty(0, np.int64), abandon
    return pa.concat_tables(parts), np.asarray(lines, dtype=np.int64), abandon


def _read_one(raw: bytes, obj: dict) -> pa.Table:
    """One line through Arrow; when Arrow rejects a key given twice (Suricata writes ``app_proto`` twice in
    some alerts), the line as Python's ``json`` reads it (the last value wins)."""
    try:
        return pajson.read_json(io.BytesIO(raw), read_options=_READ, parse_options=_PARSE)
    except pa.ArrowInvalid as exc:
        if "specified twice" not in str(exc):
            raise
    return pajson.read_json(io.BytesIO(json.dumps(obj).encode()), read_options=_READ, parse_options=_PARSE)


def _by_event_type(table: pa.Table, lines: np.ndarray, raws: list[bytes], first: int, ctx: ParseContext
                   ) -> Iterator[Batch]:
    kinds = table["event_type"]
    for kind in pc.unique(kinds).to_pylist():
        mask = pc.fill_null(pc.is_null(kinds) if kind is None else pc.equal(kinds, kind), False)
        part = table.filter(mask)
        part_lines = lines[np.asarray(mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask,
                                      dtype=bool)]
        if kind == "alert":
            batch = _alerts(part, part_lines, raws, first, ctx)
        elif kind in EVE_TABLES:
            batch = _mapped(EVE_TABLES[kind], part, part_lines, ctx)
        else:
            ctx.skip_unsupported(f"eve {kind or 'record without event_type'}", part.num_rows)
            continue
        if batch is not None:
            yield batch


def _mapped(table_name: str, part: pa.Table, lines: np.ndarray, ctx: ParseContext) -> Batch | None:
    if table_name == "net.dns":
        keep = pc.invert(answered_queries(part))
        part, lines = part.filter(keep), lines[np.asarray(keep, dtype=bool)]
    columns, extra = map_columns(table_name, part)
    return table_batch(table_name, columns, lines, ctx, extra, part["host"])


def _alerts(part: pa.Table, lines: np.ndarray, raws: list[bytes], first: int, ctx: ParseContext) -> Batch | None:
    """ids.alert rows: the typed fields from Arrow, the alert object (rule, metadata) from each line's JSON."""
    rows: list[dict] = []
    kept: list[int] = []
    protos = lower_proto(part["proto"]).to_pylist()
    for j, (line, obj) in enumerate(zip(lines.tolist(), part.select(
            ["timestamp", "flow_id", "host", "src_ip", "src_port", "dest_ip", "dest_port", "app_proto"]
    ).to_pylist(), strict=True)):
        record = json.loads(raws[line - first])
        alert = record.get("alert")
        if not isinstance(alert, dict):
            ctx.warn(line, "alert record without an alert object", raws[line - first])
            continue
        metadata = alert.get("metadata")
        rows.append({
            "ts": obj["timestamp"], "engine": "suricata",
            "flow_id": None if obj["flow_id"] is None else str(obj["flow_id"]),
            "src_ip": obj["src_ip"], "src_port": obj["src_port"], "dst_ip": obj["dest_ip"],
            "dst_port": obj["dest_port"], "proto": protos[j], "app_proto": obj["app_proto"],
            "direction": _text(record.get("direction")), "gid": alert.get("gid"),
            "signature_id": alert.get("signature_id"), "rev": alert.get("rev"),
            "signature": _text(alert.get("signature")), "category": _text(alert.get("category")),
            "severity": alert.get("severity"), "action": _text(alert.get("action")),
            "attack": attack_ids(metadata), "metadata": metadata_text(metadata),
            "sensor": obj["host"],
            "extra": {"community_id": _text(record.get("community_id")), "in_iface": _text(record.get("in_iface"))},
        })
        kept.append(line)
    return alert_batch(rows, kept, ctx)


def _text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)

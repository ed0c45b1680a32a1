"""Zeek TSV logs (the ASCII writer's default), with their ``#`` headers.

Parsed a block at a time with Arrow's multi-threaded CSV reader; a block with a bad line falls
back to a line-by-line check that turns each bad line into a warning and keeps the rest.
Handles gzip, rotated files, extra columns (``_node_name``, labels), ``(empty)`` and ``-``,
``set[..]``/``vector[..]`` fields, files cut off mid-line and files without ``#close``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from winnow.sources.ahead import ahead
from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import count_lines, line_numbers, read_blocks, split_lines
from winnow.sources.registry import register
from winnow.sources.value_checks import check_values
from winnow.sources.zeek_batch import to_batch
from winnow.sources.zeek_fields import ZEEK_LOGS, ZEEK_TABLES

_ZEEK_TYPES: dict[str, pa.DataType] = {
    "time": pa.float64(), "interval": pa.float64(), "double": pa.float64(),
    "port": pa.int32(), "count": pa.int64(), "int": pa.int64(), "bool": pa.bool_(),
}


def _next_header(block: bytes, pos: int) -> int:
    """Index of the newline before the next ``#`` line at or after ``pos``, or -1.

    Searches for the rare ``#`` (a fast scan) rather than for the two-byte ``\\n#``.
    """
    while True:
        hit = block.find(b"#", pos)
        if hit <= 0:
            return -1
        if block[hit - 1] == 10:  # preceded by a newline: a header line
            return hit - 1
        pos = hit + 1


@dataclass
class _Header:
    separator: bytes = b"\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def line(self, raw: bytes) -> None:
        text = raw.rstrip(b"\r").decode("utf-8", "replace")
        if text.startswith("#separator"):
            value = text[len("#separator") :].strip()
            self.separator = value.encode().decode("unicode_escape").encode("latin-1") or b"\t"
            return
        key, _, value = text[1:].partition(self.separator.decode("latin-1"))
        if key == "set_separator":
            self.set_separator = value
        elif key == "empty_field":
            self.empty_field = value
        elif key == "unset_field":
            self.unset_field = value
        elif key == "path":
            self.path = value
        elif key == "fields":
            self.fields = value.split(self.separator.decode("latin-1"))
            self.types = []
        elif key == "types":
            self.types = value.split(self.separator.decode("latin-1"))


#: a run of data lines: its bytes, the header in force, the read warnings before it, its first line
_Run = tuple[bytes, "_Header", list, int]


class _Held:
    """Stands in for the :class:`ParseContext` of work done ahead of the parsing (reading blocks, turning
    them into rows on a worker): its warnings are held, then replayed when the parsing reaches the block,
    so they keep their place (and a run of bad lines abandons the file where it did)."""

    def __init__(self, block_size: int | None = None) -> None:
        self.block_size, self.held = block_size, []

    def warn(self, *args, **kwargs) -> None:
        self.held.append((args, kwargs))

    def take(self) -> list:
        held, self.held = self.held, []
        return held


def _segments(blocks: Iterator[tuple[bytes, int]], held: _Held) -> Iterator[tuple[_Run, int]]:
    """``((data lines, header in force, held warnings, first line), first line)`` of each run of data lines.

    Runs are cut at header lines; this is read ahead of the parsing, so each run carries its own header (a
    header line changes a copy) and the read warnings before it. A block without header lines (most of them)
    is one run, passed on without a copy.
    """
    header = _Header()
    for block, line in blocks:
        if block[:1] != b"#" and _next_header(block, 0) < 0:
            yield (block, header, held.take(), line), line
            continue
        pos = 0
        while pos < len(block):
            if block[pos : pos + 1] == b"#":
                end = block.find(b"\n", pos)
                end = len(block) if end < 0 else end
                header = replace(header)
                header.line(block[pos:end])
                line, pos = line + 1, end + 1
                continue
            nxt = _next_header(block, pos)
            stop = len(block) if nxt < 0 else nxt + 1
            segment = block[pos:stop]
            yield (segment, header, held.take(), line), line
            line, pos = line + count_lines(segment), stop


def _replay(warnings: list, ctx: ParseContext) -> None:
    for args, kwargs in warnings:
        ctx.warn(*args, **kwargs)


@register
class ZeekTsv(Source):
    name: ClassVar[str] = "zeek_tsv"
    description: ClassVar[str] = (
        "Zeek ASCII logs (TSV with #fields/#types headers): conn, open_conn, dns, http, ssl, ssh"
    )
    tables: ClassVar[tuple[str, ...]] = ZEEK_TABLES

    def sniff(self, head: bytes, filename: str) -> bool:
        return head.lstrip(b"\xef\xbb\xbf").startswith(b"#separator")

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        from winnow.config import current

        config = current()
        size = min(ctx.block_size or config.get("ingest.block_size"), config.get("ingest.tsv_block_size"))
        held = _Held(size)
        segments = _segments(read_blocks(stream, held, size), held)  # type: ignore[arg-type]
        for (seg, header, warnings, _), first, ready in ahead(segments, self._prepare,
                                                              config.get("ingest.tsv_workers")):
            _replay(warnings, ctx)
            if ready is not None:  # rows made ahead: their warnings go first, in order, as if made here
                batch, made = ready
                _replay(made, ctx)
                if batch is not None:
                    yield batch
            else:
                yield from self._segment(seg, first, header, ctx)
        _replay(held.take(), ctx)

    def _prepare(self, run: _Run) -> tuple[Batch | None, list] | None:
        """On a worker, ahead: the checked rows of a run of lines Arrow parses whole, and their warnings.

        None when Arrow cannot (a bad line, a header that does not say what the lines are): the parsing
        thread then goes line by line.
        """
        seg, header, _, first = run
        if not header.fields or header.path not in ZEEK_LOGS:
            return None
        result = self._fast(seg, header)
        if result is None:
            return None
        # Arrow also ends a row at a lone CR: without one, a parse that succeeded has one row per line
        if b"\r" in seg and result.num_rows != count_lines(seg):
            return None
        columns = {name: result.column(i) for i, name in enumerate(header.fields)}
        columns = self._unescape(columns, header, seg)
        made = _Held()
        batch = to_batch(header.path, columns, line_numbers(first, result.num_rows), made,  # type: ignore[arg-type]
                         header.set_separator)
        if batch is not None:
            batch = replace(check_values(batch, made), checked=True)  # type: ignore[arg-type]
        return batch, made.take()

    def _segment(self, seg: bytes, first: int, header: _Header, ctx: ParseContext) -> Iterator[Batch]:
        """Batches of the data lines ``seg`` (no header among them) that Arrow did not parse whole."""
        if not header.fields or header.path is None:
            for i, raw in enumerate(split_lines(seg)):
                ctx.warn(first + i, "data line before the #fields/#path header", raw)
            return
        if header.path not in ZEEK_LOGS:
            ctx.skip_unsupported(f"zeek {header.path}", count_lines(seg))
            return
        columns, lines, abandon = self._careful(seg, first, header, ctx)
        if len(lines):
            columns = self._unescape(columns, header, seg)
            batch = to_batch(header.path, columns, lines, ctx, header.set_separator)
            if batch is not None:
                yield batch
        if abandon is not None:
            raise abandon

    def _types(self, header: _Header) -> dict[str, pa.DataType]:
        mapping = ZEEK_LOGS[header.path or ""][1]
        out = {}
        for i, name in enumerate(header.fields):
            ztype = header.types[i] if i < len(header.types) else "string"
            out[name] = _ZEEK_TYPES.get(ztype, pa.string()) if name in mapping else pa.string()
        return out

    def _fast(self, seg: bytes, header: _Header) -> pa.Table | None:
        try:
            return pacsv.read_csv(
                pa.BufferReader(pa.py_buffer(seg)),  # zero-copy, read without the GIL
                read_options=pacsv.ReadOptions(column_names=header.fields, block_size=4 << 20, use_threads=True),
                parse_options=pacsv.ParseOptions(
                    delimiter=header.separator.decode("latin-1"), quote_char=False, escape_char=False,
                    ignore_empty_lines=False,  # a bad row raises: a row handler would decode its text, noisily
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=self._types(header), null_values=[header.unset_field],
                    strings_can_be_null=True, true_values=["T"], false_values=["F"],
                ),
            )
        except (pa.ArrowInvalid, ValueError):
            return None

    def _careful(self, seg: bytes, first: int, header: _Header, ctx: ParseContext):
        """Check each line; keep the good ones as text columns for per-value conversion.

        Also returns the ``AbandonFile`` a run of bad lines raised (else None); the good lines
        before that run are kept.
        """
        width = len(header.fields)
        sep = header.separator
        good: list[bytes] = []
        lines: list[int] = []
        abandon = None
        try:
            for i, raw in enumerate(split_lines(seg)):
                number = first + i
                if not raw:
                    ctx.warn(number, "empty line", b"")
                    continue
                parts = raw.count(sep) + 1
                if parts != width:
                    what = "cut off (file truncated?)" if parts < width else "too many fields"
                    ctx.warn(number, f"line has {parts} fields, header declares {width}: {what}", raw)
                    continue
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    ctx.warn(number, "invalid UTF-8, undecodable bytes replaced", raw)
                    raw = raw.decode("utf-8", "replace").encode("utf-8")
                good.append(raw.replace(b"\r", b"\\x0d"))
                lines.append(number)
        except AbandonFile as exc:
            abandon = exc
        if not good:
            return {}, line_numbers(first, 0), abandon
        table = pacsv.read_csv(
            io.BytesIO(b"\n".join(good) + b"\n"),
            read_options=pacsv.ReadOptions(column_names=header.fields, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(delimiter=sep.decode("latin-1"), quote_char=False, escape_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f: pa.string() for f in header.fields}, null_values=[header.unset_field],
                strings_can_be_null=True,
            ),
        )
        columns = {name: table.column(i) for i, name in enumerate(header.fields)}
        return columns, np.asarray(lines, dtype=np.int64), abandon

    @staticmethod
    def _unescape(columns: dict[str, pa.Array], header: _Header, seg: bytes) -> dict[str, pa.Array]:
        """``(empty)`` means an empty string or set."""
        empty = header.empty_field.encode()
        # its first byte ("(") is found with memchr, much faster than the whole marker: most blocks have none
        if not empty or empty[:1] not in seg or empty not in seg:
            return columns
        out = {}
        for name, col in columns.items():
            if pa.types.is_string(col.type):
                empty = pc.equal(col, header.empty_field)
                if pc.any(empty).as_py():
                    col = pc.if_else(empty, "", col)
            out[name] = col
        return out

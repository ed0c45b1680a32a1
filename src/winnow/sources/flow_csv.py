"""Flow exports as CSV -> net.conn: Argus ``ra`` output (``*.binetflow``) and ``nfdump -o csv``.

Argus (``ra -c , -s stime dur proto saddr sport dir daddr dport state ...``, as in the CTU/Slips
``.binetflow`` files) gives bidirectional flows: ``SrcBytes``/``SrcPkts`` are the originator's
share of ``TotBytes``/``TotPkts``, so the responder's is the difference. Ports may be hex
(``0x0303``: ICMP type/code); ``StartTime`` is read as UTC; comma or tab separated. Argus
management records (``man``) are skipped; non-IP addresses (MACs of ``llc`` flows) are kept in
``extra`` only. ``State``, ``Dir``, ``sTos``/``dTos`` and ``Label`` go to ``extra``.

nfdump ``-o csv`` gives unidirectional flows (``ts`` first seen, ``td`` duration, ``ibyt``/``ipkt``
the flow's counters); its ``obyt``/``opkt`` are egress counters of the same direction, so they go
to ``extra`` with the other fields, dropping nfdump's zero placeholders. The trailing ``Summary``
block that nfdump prints without ``-q`` is ignored.
"""

from __future__ import annotations

import csv
import re
from abc import abstractmethod
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import read_blocks, split_lines
from winnow.sources.coerce import build_extra, coerce, drop_untimed
from winnow.sources.netflow_fields import snake
from winnow.sources.registry import register

_IP = r"^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*::[0-9a-fA-F:.]*|([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4})$"
_NFDUMP_DEFAULTS = {"0", "0.0.0.0", "00:00:00:00:00:00", "0-0-0", "0.000", "1970-01-01 00:00:00.000", "0/0", ""}


class _FlowCsv(Source):
    """Shared reading: header line, delimited rows with line numbers, typed net.conn columns."""

    tables: ClassVar[tuple[str, ...]] = ("net.conn",)

    def header(self, head: bytes) -> tuple[list[str], str] | None:
        """Column names and delimiter of the first line, or None."""
        first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
        delimiter = "\t" if "\t" in first else ","
        return [c.strip() for c in first.split(delimiter)], delimiter

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        names: list[str] | None = None
        delimiter = ","
        for block, first in read_blocks(stream, ctx):
            lines = split_lines(block)
            start = 0
            if names is None:
                found = self.header(block)
                if found is None or not self.sniff(block[:4096], ctx.file):
                    ctx.warn(1, f"not a {self.name} header", lines[0] if lines else b"")
                    return
                names, delimiter = found
                start = 1
            rows, numbers = [], []
            try:
                for i in range(start, len(lines)):
                    raw = lines[i]
                    if not raw.strip():
                        continue
                    if self.is_trailer(raw):
                        break
                    fields = next(csv.reader([raw.decode("utf-8", "replace")], delimiter=delimiter))
                    if len(fields) != len(names):
                        ctx.warn(first + i, f"{len(fields)} fields where the header has {len(names)}", raw)
                        continue
                    rows.append(fields)
                    numbers.append(first + i)
            except AbandonFile:
                if rows:
                    yield from self._batch(names, rows, numbers, ctx)
                raise
            if rows:
                yield from self._batch(names, rows, numbers, ctx)

    def is_trailer(self, raw: bytes) -> bool:
        """True at a line that ends the data (nfdump's summary)."""
        return False

    def _batch(self, names: list[str], rows: list[list[str]], numbers: list[int], ctx: ParseContext
               ) -> Iterator[Batch]:
        columns = {name: pa.array([r[j].strip() for r in rows], pa.string()) for j, name in enumerate(names)}
        lines = np.asarray(numbers, dtype=np.int64)
        keep = self.keep(columns)
        if keep is not None and not pc.all(keep).as_py():
            ctx.skip_unsupported(f"{self.name} non-flow records", len(rows) - pc.sum(keep).as_py())
            columns = {k: v.filter(keep) for k, v in columns.items()}
            lines = lines[np.asarray(keep)]
        if not len(lines):
            return
        out, extra = self.convert(columns, lines, ctx)
        data = {"ts": out.pop("ts")}
        data.update(out)
        data["extra"] = build_extra(extra, len(lines))
        data["_line"] = pa.array(lines, pa.int64())
        table = drop_untimed(pa.table(data), lines, ctx)
        if table.num_rows:
            yield Batch("net.conn", table)

    def keep(self, columns: dict[str, pa.Array]) -> pa.Array | None:
        """Mask of rows that are flows (None: all)."""
        return None

    @abstractmethod
    def convert(self, columns: dict[str, pa.Array], lines: np.ndarray, ctx: ParseContext
                ) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
        """net.conn columns and extra columns from the text columns."""


def _timestamp(text: pa.Array, lines: np.ndarray, ctx: ParseContext, column: str) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` (or with ``/``) as UTC; unreadable values become null with a warning."""
    text = pc.replace_substring(text, "/", "-")
    try:
        return pc.cast(text, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        value, bad = coerce(text, pa.timestamp("us", tz="UTC"))
        for row, raw in bad:
            ctx.warn(int(lines[row]), f"field {column!r}: cannot read {str(raw)[:40]!r} as a time", str(raw))
        return value


def _number(text: pa.Array, typ: pa.DataType, lines: np.ndarray, ctx: ParseContext, column: str) -> pa.Array:
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    value, bad = coerce(text, typ)
    for row, raw in bad:
        ctx.warn(int(lines[row]), f"field {column!r}: cannot read {str(raw)[:40]!r} as {typ}", str(raw))
    return value


def _port(text: pa.Array, lines: np.ndarray, ctx: ParseContext, column: str) -> pa.Array:
    """Decimal or ``0x`` hex ports."""
    is_hex = pc.fill_null(pc.starts_with(text, "0x"), False)
    if pc.any(is_hex).as_py():
        values = [int(v, 16) if h and re.fullmatch(r"0x[0-9a-fA-F]{1,4}", v) else v
                  for v, h in zip(text.to_pylist(), is_hex.to_pylist(), strict=True)]
        text = pa.array([None if v is None else str(v) for v in values], pa.string())
    return _number(text, pa.int32(), lines, ctx, column)


def _address(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.match_substring_regex(text, _IP), text, pa.scalar(None, pa.string()))


@register
class ArgusCsv(_FlowCsv):
    name: ClassVar[str] = "argus_csv"
    description: ClassVar[str] = "Argus bidirectional flows as CSV (ra -c , ...; CTU/Slips *.binetflow)"

    def sniff(self, head: bytes, filename: str) -> bool:
        names = set(self.header(head)[0])
        return {"StartTime", "SrcAddr", "DstAddr", "Proto"} <= names and bool({"TotBytes", "SrcBytes"} & names)

    def keep(self, columns: dict[str, pa.Array]) -> pa.Array | None:
        return pc.not_equal(pc.utf8_lower(columns["Proto"]), "man") if "Proto" in columns else None

    def convert(self, columns, lines, ctx):
        col = columns.get
        out: dict[str, pa.Array] = {"ts": _timestamp(columns["StartTime"], lines, ctx, "StartTime")}
        out["src_ip"], out["dst_ip"] = _address(columns["SrcAddr"]), _address(columns["DstAddr"])
        for name, source in (("src_port", "Sport"), ("dst_port", "Dport")):
            if col(source) is not None:
                out[name] = _port(columns[source], lines, ctx, source)
        out["proto"] = pc.utf8_lower(columns["Proto"])
        if col("Dur") is not None:
            out["duration"] = _number(columns["Dur"], pa.float64(), lines, ctx, "Dur")
        numbers = {name: _number(columns[name], pa.int64(), lines, ctx, name)
                   for name in ("TotPkts", "TotBytes", "SrcBytes", "SrcPkts") if col(name) is not None}
        if "SrcBytes" in numbers:
            out["src_bytes"] = numbers["SrcBytes"]
            if "TotBytes" in numbers:
                out["dst_bytes"] = pc.subtract(numbers["TotBytes"], numbers["SrcBytes"])
        if "SrcPkts" in numbers:
            out["src_pkts"] = numbers["SrcPkts"]
            if "TotPkts" in numbers:
                out["dst_pkts"] = pc.subtract(numbers["TotPkts"], numbers["SrcPkts"])
        mapped = {"StartTime", "Sport", "Dport", "Proto", "Dur", "SrcBytes", "SrcPkts"}
        extra = {snake(k): pc.if_else(pc.equal(v, ""), pa.scalar(None, pa.string()), v)
                 for k, v in columns.items() if k not in mapped}
        for name in ("SrcAddr", "DstAddr"):
            extra.pop(snake(name))
        for name, ip in (("src_addr", out["src_ip"]), ("dst_addr", out["dst_ip"])):
            source = columns["SrcAddr" if name == "src_addr" else "DstAddr"]
            if pc.any(pc.is_null(ip)).as_py():  # a MAC or other non-IP address: keep it
                extra[name] = pc.if_else(pc.is_null(ip), source, pa.scalar(None, pa.string()))
        return out, extra


@register
class NfdumpCsv(_FlowCsv):
    name: ClassVar[str] = "nfdump_csv"
    description: ClassVar[str] = "nfdump flow records as CSV (nfdump -o csv): unidirectional NetFlow/IPFIX flows"

    def sniff(self, head: bytes, filename: str) -> bool:
        return head.lstrip(b"\xef\xbb\xbf").startswith(b"ts,te,td,sa,da,sp,dp,pr")

    def is_trailer(self, raw: bytes) -> bool:
        return raw.strip() in (b"Summary", b"No matching flows")

    def convert(self, columns, lines, ctx):
        out: dict[str, pa.Array] = {"ts": _timestamp(columns["ts"], lines, ctx, "ts")}
        out["src_ip"], out["dst_ip"] = _address(columns["sa"]), _address(columns["da"])
        out["src_port"] = _port(columns["sp"], lines, ctx, "sp")
        out["dst_port"] = _port(columns["dp"], lines, ctx, "dp")
        out["proto"] = pc.utf8_lower(columns["pr"])
        out["duration"] = _number(columns["td"], pa.float64(), lines, ctx, "td")
        if "ibyt" in columns:
            out["src_bytes"] = out["src_ip_bytes"] = _number(columns["ibyt"], pa.int64(), lines, ctx, "ibyt")
        if "ipkt" in columns:
            out["src_pkts"] = _number(columns["ipkt"], pa.int64(), lines, ctx, "ipkt")
        rename = {"flg": "tcp_flags", "stos": "tos", "in": "input_if", "out": "output_if", "sas": "src_as",
                  "das": "dst_as", "smk": "src_mask", "dmk": "dst_mask", "ra": "exporter"}
        defaults = pa.array(sorted(_NFDUMP_DEFAULTS), pa.string())
        extra = {}
        for name, values in columns.items():
            if name in ("ts", "sa", "da", "sp", "dp", "pr", "td", "ibyt", "ipkt"):
                continue
            extra[rename.get(name, name)] = pc.if_else(pc.is_in(values, defaults), pa.scalar(None, pa.string()), values)
        return out, extra

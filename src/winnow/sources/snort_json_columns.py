"""Snort 3 alert_json read column-wise: a block through Arrow's JSON reader against a fixed schema of the
fields :func:`winnow.sources.snort_alerts._row` reads, then mapped one distinct value at a time.

Anything the line-by-line path would warn about (a line Arrow rejects, a field of another type, a value
the mapping refuses) makes :func:`read_block` answer None, and the caller reads that block line by line,
so rows and warnings are the same either way. Control characters, a BOM, blank lines, carriage returns and
escaped surrogates also send the block line by line (Arrow and Python's ``json`` could read them apart).
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.json as pajson

from winnow.sources.syslog_header import YearGuess

S, I64 = pa.string(), pa.int64()
READ_SCHEMA = pa.schema([
    ("timestamp", S), ("seconds", I64), ("proto", S), ("rule", S), ("gid", I64), ("sid", I64), ("rev", I64),
    ("src_ap", S), ("dst_ap", S), ("src_addr", S), ("dst_addr", S), ("src_port", I64), ("dst_port", I64),
    ("msg", S), ("service", S), ("dir", S), ("class", S), ("priority", I64), ("action", S),
    ("pkt_num", I64), ("pkt_gen", S), ("iface", S),
])
_PARSE = pajson.ParseOptions(explicit_schema=READ_SCHEMA, unexpected_field_behavior="ignore")
_READ = pajson.ReadOptions(block_size=4 << 20)
_UNSURE = re.compile(rb"[\x00-\x09\x0b-\x1f]|\n\n|\\u[dD][89a-fA-F]|\xef\xbb\xbf")


def read_block(block: bytes, years: YearGuess, row: Callable[[dict, YearGuess], dict]
               ) -> tuple[dict[str, list], dict[str, list]] | None:
    """The ids.alert columns and ``extra`` fields of a block of alert_json lines, or None (read it line by
    line). ``years`` advances only when the block is read here; ``row`` is the line-by-line mapping."""
    if not block or block.startswith(b"\n") or b"\r" in block or _UNSURE.search(block):
        return None
    try:
        table = pajson.read_json(io.BytesIO(block), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowInvalid, ValueError):
        return None
    n = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    if table.num_rows != n:
        return None
    guess = copy.copy(years)
    try:
        out = _map(table, guess, row)
    except (ValueError, TypeError, RecursionError):
        return None
    years.__dict__.update(guess.__dict__)
    return out


def _map(t: pa.Table, years: YearGuess, row: Callable[[dict, YearGuess], dict]
         ) -> tuple[dict[str, list], dict[str, list]]:
    """Each row through the line-by-line mapping, once per distinct set of values but the time; times
    once per distinct (text, year) after the year guess, which carries from line to line."""
    from winnow.sources.snort_alerts import _TIME, BadAlert, snort_time

    keys = [k for k in READ_SCHEMA.names if k not in ("timestamp", "seconds")]
    mapped: dict[tuple, dict] = {}
    rows = []
    for values in zip(*(t.column(k).to_pylist() for k in keys), strict=True):
        r = mapped.get(values)
        if r is None:
            r = mapped[values] = row({**dict(zip(keys, values, strict=True)),
                                      "timestamp": "01/01/2000-00:00:00"}, years)
        rows.append(r)
    times: dict[tuple, object] = {}
    months: dict[str, int | None] = {}
    ts = []
    for text, sec in zip(t.column("timestamp").to_pylist(), t.column("seconds").to_pylist(), strict=True):
        text = str(text or "")
        if text not in months:
            m = _TIME.match(text.strip())
            if not m:
                raise BadAlert("bad time stamp")
            months[text] = int(m[1]) if m[3] is None else None
        month = months[text]
        year = None if month is None or (sec is not None and sec >= 0) else years(month)
        key = (text, sec if year is None else None, year)
        value = times.get(key)
        if value is None:
            value = times[key] = snort_time(text, _Fixed(year), sec)[0]
        ts.append(value)
    columns = {name: [r[name] for r in rows] for name in rows[0] if name != "extra"} if rows else {}
    columns["ts"] = ts
    extra_keys: dict[str, None] = {}
    for r in rows:
        extra_keys.update(dict.fromkeys(r["extra"]))
    extra = {k: [r["extra"].get(k) for r in rows] for k in extra_keys}
    return columns, extra


class _Fixed(YearGuess):
    """A year already guessed."""

    def __init__(self, year: int | None) -> None:
        self.fixed = year

    def __call__(self, month: int) -> int:
        assert self.fixed is not None
        return self.fixed

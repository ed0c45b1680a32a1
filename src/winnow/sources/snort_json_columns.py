"""Snort 3 alert_json read column-wise: a block through Arrow's JSON reader against a fixed schema of the
fields :func:`winnow.sources.snort_alerts._row` reads, then mapped one distinct value at a time.

Anything the line-by-line path would warn about (a line Arrow rejects, a field of another type, a value
the mapping refuses) makes :func:`read_block` answer None, and the caller reads that block line by line,
so rows and warnings are the same either way. A BOM at the start (Arrow skips it), carriage returns, and blank
lines (Arrow skips them: fewer rows than lines) also send the block line by line. Arrow refuses what
Python's ``json`` refuses in these fields (control characters, lone surrogates, one of these fields given twice).
"""

from __future__ import annotations

import copy
import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from winnow.sources.blocks import count_lines
from winnow.sources.coerce import per_value
from winnow.sources.syslog_header import YearGuess

S, I64 = pa.string(), pa.int64()
READ_SCHEMA = pa.schema([
    ("timestamp", S), ("seconds", I64), ("proto", S), ("rule", S), ("gid", I64), ("sid", I64), ("rev", I64),
    ("src_ap", S), ("dst_ap", S), ("src_addr", S), ("dst_addr", S), ("src_port", I64), ("dst_port", I64),
    ("msg", S), ("service", S), ("dir", S), ("class", S), ("priority", I64), ("action", S),
    ("pkt_num", I64), ("pkt_gen", S), ("iface", S),
])
#: keys of distinct times: a year below _YEARS, else _YEARS + seconds (below _SECONDS)
_YEARS, _SECONDS = 10_000, 1 << 39
_PARSE = pajson.ParseOptions(explicit_schema=READ_SCHEMA, unexpected_field_behavior="ignore")
_READ = pajson.ReadOptions(block_size=4 << 20)


def read_block(block: bytes, years: YearGuess) -> tuple[dict[str, pa.Array], dict[str, pa.Array]] | None:
    """The ids.alert columns and ``extra`` fields of a block of alert_json lines, or None (read it line by
    line). ``years`` advances only when the block is read here."""
    if not block or block.startswith((b"\n", b"\xef\xbb\xbf")) or b"\r" in block:
        return None
    try:
        table = pajson.read_json(io.BytesIO(block), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowInvalid, ValueError):
        return None
    if table.num_rows != count_lines(block):
        return None
    guess = copy.copy(years)
    try:
        out = _map(table, guess)
    except (ValueError, TypeError, RecursionError):
        return None
    years.__dict__.update(guess.__dict__)
    return out


def _blank_null(arr: pa.Array) -> pa.Array:
    """Empty text as null (the line-by-line ``value or None``)."""
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, S), arr)


def _map(t: pa.Table, years: YearGuess) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The mapping of :func:`winnow.sources.snort_alerts._row`, column by column: each field's distinct
    values through the same helpers, then combined with Arrow."""
    from winnow.sources.snort_alerts import _TIME, BadAlert, _rule, split_address

    col = {name: t.column(name).combine_chunks() for name in READ_SCHEMA.names}
    n = t.num_rows
    rules = per_value(col["rule"], lambda v: dict(zip(("gid", "sid", "rev"), _rule(v) or (None,) * 3, strict=True)),
                  pa.struct([("gid", I64), ("sid", I64), ("rev", I64)]), decode_null=True)
    parsed = pc.is_valid(pc.struct_field(rules, "sid"))
    gid, sid, rev = (pc.if_else(parsed, pc.struct_field(rules, k), col[k]) for k in ("gid", "sid", "rev"))
    if sid.null_count:
        raise BadAlert("no rule (gid:sid:rev) in the alert")
    ap = pa.struct([("ip", S), ("port", I64)])
    src = per_value(col["src_ap"], lambda v: dict(zip(("ip", "port"), split_address(v, None, ported=True),
                                                   strict=True)), ap, decode_null=True)
    dst = per_value(col["dst_ap"], lambda v: dict(zip(("ip", "port"), split_address(v, None, ported=True),
                                                   strict=True)), ap, decode_null=True)
    has_src = pc.fill_null(pc.not_equal(col["src_addr"], ""), False)
    has_dst = pc.and_(has_src, pc.fill_null(pc.not_equal(col["dst_addr"], ""), False))
    msg = col["msg"]
    no_msg = pc.fill_null(pc.equal(msg, ""), True)
    if pc.any(no_msg).as_py():
        signature = msg.to_pylist()
        for i in pc.indices_nonzero(no_msg).to_pylist():
            signature[i] = f"{gid[i].as_py()}:{sid[i].as_py()}:{rev[i].as_py()}"
        msg = pa.array(signature, S)
    columns = {
        "ts": _times(col["timestamp"], col["seconds"], years, _TIME),
        "engine": pa.array(["snort"] * n, S),
        "src_ip": _blank_null(pc.if_else(has_src, col["src_addr"], pc.struct_field(src, "ip"))),
        "src_port": pc.coalesce(col["src_port"], pc.struct_field(src, "port")),
        "dst_ip": _blank_null(pc.if_else(has_dst, col["dst_addr"], pc.struct_field(dst, "ip"))),
        "dst_port": pc.coalesce(col["dst_port"], pc.struct_field(dst, "port")),
        "proto": per_value(col["proto"], lambda v: str(v or "").lower() or None, S, decode_null=True),
        "app_proto": per_value(col["service"], lambda v: None if v in (None, "", "unknown") else v, S,
                               decode_null=True),
        "direction": _blank_null(col["dir"]), "gid": gid, "signature_id": sid, "rev": rev, "signature": msg,
        "category": per_value(col["class"], lambda v: None if v in (None, "", "none") else v, S, decode_null=True),
        "severity": col["priority"], "action": _blank_null(col["action"]),
    }
    extra = {"pkt_num": pc.cast(col["pkt_num"], S), "pkt_gen": _blank_null(col["pkt_gen"]),
             "iface": _blank_null(col["iface"])}
    return columns, {k: v for k, v in extra.items() if v.null_count < n}


def _times(stamps: pa.Array, seconds: pa.Array, years: YearGuess, pattern: re.Pattern) -> pa.Array:
    """Alert times: each distinct (text, year) once; the year from ``seconds`` or the year guess, which is
    called once per run of one month (a repeated month leaves it as it is)."""
    from winnow.sources.snort_alerts import BadAlert, snort_time

    enc = pc.fill_null(stamps, "").dictionary_encode()
    texts = enc.dictionary.to_pylist()
    months = []
    for text in texts:
        m = pattern.match(text.strip())
        months.append(int(m[1]) if m and m[3] is None else 0)  # 0: the text has its year (or is refused below)
    idx = np.asarray(enc.indices, dtype=np.int64)
    month = np.asarray(months, dtype=np.int64)[idx] if texts else np.zeros(len(idx), np.int64)
    sec = np.asarray(pc.fill_null(seconds, -1), dtype=np.int64)
    year = np.zeros(len(idx), np.int64)
    by_seconds = sec >= 0
    guessed = (month > 0) & ~by_seconds
    rows = np.flatnonzero(guessed)
    if len(rows):
        m = month[rows]
        starts = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
        found = np.asarray([years(int(v)) for v in m[starts]], dtype=np.int64)
        year[rows] = np.repeat(found, np.diff(np.r_[starts, len(rows)]))
    if len(sec) and sec.max() >= _SECONDS:  # beyond any real time: the line-by-line path says how
        raise BadAlert("seconds out of range")
    keyed = np.where(by_seconds & (month > 0), sec + _YEARS, year)  # seconds name the year: key on them
    unique, inverse = np.unique((idx << 40) | keyed, return_inverse=True)
    values = []
    for key in unique.tolist():
        text, rest = texts[key >> 40], key & ((1 << 40) - 1)
        if rest >= _YEARS:
            values.append(snort_time(text, _Fixed(None), rest - _YEARS)[0])
        else:
            values.append(snort_time(text, _Fixed(rest or None), None)[0])
    return pa.array(values, pa.timestamp("us", tz="UTC")).take(pa.array(inverse.reshape(-1)))


class _Fixed(YearGuess):
    """A year already guessed."""

    def __init__(self, year: int | None) -> None:
        self.fixed = year

    def __call__(self, month: int) -> int:
        if self.fixed is None:
            raise ValueError("no year")
        return self.fixed

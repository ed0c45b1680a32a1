"""Vectorized conversion of parsed columns to a table's declared types.

Values that cannot be converted become null and are reported (row index, value) so the caller
can turn them into ``ingest_warnings``; the rest of the row is kept. Text with a few values that
are not numbers is still converted column-wise (a regular expression masks the bad ones); only
what that cannot convert goes value by value in Python. Range rules (ports, addresses, counts) are
checked afterwards by :mod:`winnow.sources.value_checks`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TRUE = {"t", "true", "1", "yes", "y"}
_FALSE = {"f", "false", "0", "no", "n"}


def per_value(values: pa.Array, decode: Callable[[Any], Any], kind: pa.DataType, decode_null: bool = False) -> pa.Array:
    """``decode`` of each value as an array of ``kind``, called once per distinct value: the row-by-row helper of a
    column, column-wise. Nulls stay null, or become ``decode(None)`` with ``decode_null``."""
    encoded = pc.dictionary_encode(values)
    decoded = pa.array([None if v is None else decode(v) for v in encoded.dictionary.to_pylist()], kind)
    out = decoded.take(encoded.indices)
    if decode_null and encoded.null_count:
        out = pc.if_else(encoded.indices.is_null(), pa.scalar(decode(None), kind), out)
    return out


def epoch_to_ts(arr: pa.Array) -> pa.Array:
    """Epoch seconds (float or int) to ``timestamp[us, UTC]``, rounded to the microsecond."""
    us = pc.round(pc.multiply(pc.cast(arr, pa.float64()), 1e6))
    return pc.cast(pc.cast(us, pa.int64()), pa.timestamp("us", tz="UTC"))


def _py_value(value: object, target: pa.DataType, set_sep: str) -> object:
    """Convert one Python value to ``target``; raise ValueError when it cannot be."""
    if value is None:
        return None
    if pa.types.is_timestamp(target):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(round(float(value) * 1e6) / 1e6, dt.UTC)
        text = str(value).strip()
        try:
            return dt.datetime.fromtimestamp(round(float(text) * 1e6) / 1e6, dt.UTC)
        except ValueError:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            # as UTC wall time: pyarrow drops the offset when PYARROW_IGNORE_TIMEZONE is set (pyspark sets it)
            return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if pa.types.is_boolean(target):
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("not a boolean")
    if pa.types.is_integer(target):
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("not an integer")
            return int(value)
        return int(str(value).strip())
    if pa.types.is_floating(target):
        result = float(str(value).strip())
        if math.isnan(result):
            return None
        return result
    if pa.types.is_list(target):
        items = value if isinstance(value, list) else str(value).split(set_sep) if str(value) else []
        return [_py_value(v, target.value_type, set_sep) for v in items]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _fast(arr: pa.Array, target: pa.DataType, set_sep: str) -> pa.Array:
    src = arr.type
    if src == target:
        return arr
    if pa.types.is_timestamp(target):
        if pa.types.is_integer(src) or pa.types.is_floating(src):
            return epoch_to_ts(arr)
        if pa.types.is_string(src) or pa.types.is_large_string(src):
            return epoch_to_ts(pc.cast(arr, pa.float64()))
        return pc.cast(arr, target)
    if pa.types.is_list(target) and (pa.types.is_string(src) or pa.types.is_large_string(src)):
        empty = pc.equal(arr, "")
        split = pc.split_pattern(arr, set_sep)
        if pc.any(empty).as_py():
            split = pc.if_else(empty, pa.scalar([], pa.list_(pa.string())), split)
        return pc.cast(split, target)
    if pa.types.is_boolean(target) and (pa.types.is_string(src) or pa.types.is_large_string(src)):
        low = pc.utf8_lower(arr)
        is_t, is_f = pc.is_in(low, pa.array(sorted(_TRUE))), pc.is_in(low, pa.array(sorted(_FALSE)))
        if not pc.all(pc.or_(pc.or_(is_t, is_f), pc.is_null(arr))).as_py():
            raise pa.ArrowInvalid("bad boolean")
        return pc.if_else(is_t, True, pc.if_else(is_f, False, pa.scalar(None, pa.bool_())))
    if pa.types.is_string(target) and pa.types.is_list(src):
        return pc.binary_join(pc.cast(arr, pa.list_(pa.string())), set_sep)
    if pa.types.is_string(target) and pa.types.is_boolean(src):
        return pc.if_else(arr, "T", "F")
    return pc.cast(arr, target)


#: what a failed Arrow conversion raises: the next, slower step then takes over (its bad values are reported)
_NOT_CONVERTIBLE = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)


def coerce(arr: pa.Array, target: pa.DataType, set_sep: str = ",") -> tuple[pa.Array, list[tuple[int, object]]]:
    """Convert ``arr`` to ``target``; return the result and the (row, value) pairs that failed.

    Chunked input stays chunked on the fast path (no copy); only the per-value fallback
    joins the chunks.
    """
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target), []
    with contextlib.suppress(*_NOT_CONVERTIBLE):  # 1. the whole column in one cast
        return _fast(arr, target, set_sep), []
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    with contextlib.suppress(*_NOT_CONVERTIBLE):  # 2. numbers with the unparsable ones masked, column-wise
        masked = _masked_numbers(arr, target)
        if masked is not None:
            return masked
    # some value does not convert: go value by value, nulling and reporting the bad ones
    out: list[object] = []
    bad: list[tuple[int, object]] = []
    for i, value in enumerate(arr.to_pylist()):
        try:
            out.append(_py_value(value, target, set_sep))
        except (ValueError, TypeError, OverflowError):
            out.append(None)
            bad.append((i, value))
    try:
        return pa.array(out, type=target), bad
    except (pa.ArrowInvalid, OverflowError):
        # out-of-range integers and similar: null them one by one
        fixed = []
        for i, value in enumerate(out):
            try:
                pa.array([value], type=target)
                fixed.append(value)
            except (pa.ArrowInvalid, OverflowError):
                fixed.append(None)
                bad.append((i, arr[i].as_py()))
        return pa.array(fixed, type=target), bad


_INTEGER = r"^\s*[+-]?[0-9]+\s*$"
_DECIMAL = r"^\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))\s*$"


def _masked_numbers(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, list[tuple[int, object]]] | None:
    """Text to numbers column-wise when a few values are not numbers: those become null and are returned.

    None when this does not apply (not text to an integer or float); raises when a value still does
    not convert (the caller then goes value by value).
    """
    text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
    integer, floating = pa.types.is_integer(target), pa.types.is_floating(target)
    if not text or not (integer or floating):
        return None
    ok = pc.match_substring_regex(arr, _INTEGER if integer else _DECIMAL)
    wide = pc.cast(pc.utf8_trim_whitespace(pc.if_else(ok, arr, pa.scalar(None, arr.type))),
                   pa.int64() if integer else pa.float64())
    if integer and target != pa.int64():
        info = np.iinfo(target.to_pandas_dtype())
        inside = pc.and_(pc.greater_equal(wide, int(info.min)), pc.less_equal(wide, int(info.max)))
        ok = pc.and_(ok, pc.fill_null(inside, True))
        wide = pc.if_else(ok, wide, pa.scalar(None, pa.int64()))
    if floating:
        wide = pc.if_else(pc.fill_null(pc.is_nan(wide), False), pa.scalar(None, pa.float64()), wide)  # NaN: null
    rows = np.flatnonzero(~np.asarray(pc.fill_null(ok, True)))
    return pc.cast(wide, target), [(int(i), arr[int(i)].as_py()) for i in rows]


def build_extra(columns: dict[str, pa.Array], n: int, set_sep: str = ",") -> pa.Array:
    """Pack unmapped columns into one JSON-object text column, skipping nulls (null when none).

    Extra columns are mostly low-cardinality (sensor names, labels, empty sets), so each one is
    dictionary-encoded and the JSON is rendered once per distinct combination of values, then
    taken per row; high-cardinality combinations fall back to per-row string joins.
    """
    if n == 0:
        return pa.array([], pa.string())
    keys, dictionaries, encodings = [], [], []
    for name, arr in columns.items():
        text = coerce(arr, pa.string(), set_sep)[0]
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if text.null_count == n:
            continue
        encoded = pc.dictionary_encode(text)
        keys.append(name)
        dictionaries.append(encoded.dictionary)
        encodings.append(encoded)
    if not keys:
        return pa.nulls(n, pa.string())
    if len(keys) == 1:
        prefix = "{" + json.dumps(keys[0], ensure_ascii=False) + ":"
        rendered = pc.binary_join_element_wise(prefix, _json_text(dictionaries[0]), "}", "")
        return rendered.take(encodings[0].indices)
    codes = [np.asarray(pc.fill_null(pc.add(e.indices, 1), 0), dtype=np.int64) for e in encodings]
    radix = [len(d) + 1 for d in dictionaries]
    if float(np.prod(np.array(radix, dtype=np.float64))) < 2**62:
        combined = np.zeros(n, dtype=np.int64)
        for code, base in zip(codes, radix, strict=True):
            combined = combined * base + code
        factorized = pc.dictionary_encode(pa.array(combined))
        unique = np.asarray(factorized.dictionary)
        if len(unique) <= max(1024, n // 4):
            return _render_combos(keys, dictionaries, radix, unique).take(factorized.indices)
    return _render_rows(keys, dictionaries, codes)


def _render_combos(keys: list[str], dictionaries: list[pa.Array], radix: list[int], unique: np.ndarray) -> pa.Array:
    values = [d.to_pylist() for d in dictionaries]
    out: list[str | None] = []
    for combo in unique.tolist():
        digits = []
        for base in reversed(radix):
            combo, digit = divmod(combo, base)
            digits.append(digit)
        digits.reverse()
        obj = {k: values[j][d - 1] for j, (k, d) in enumerate(zip(keys, digits, strict=True)) if d}
        out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if obj else None)
    return pa.array(out, pa.string())


def _json_text(values: pa.Array) -> pa.Array:
    """Render text values as JSON string literals, vectorized."""
    out = pc.replace_substring(values, "\\", "\\\\")
    out = pc.replace_substring(out, '"', '\\"')
    if pc.any(pc.match_substring_regex(out, "[\\x00-\\x1f]")).as_py():
        for code in range(32):
            out = pc.replace_substring(out, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', out, '"', "")


def _render_rows(keys: list[str], dictionaries: list[pa.Array], codes: list[np.ndarray]) -> pa.Array:
    parts = []
    for key, dictionary, code in zip(keys, dictionaries, codes, strict=True):
        prefix = "," + json.dumps(key, ensure_ascii=False) + ":"
        rendered = pc.binary_join_element_wise(prefix, _json_text(dictionary), "")
        rendered = pa.concat_arrays([pa.array([""], pa.string()), rendered])
        parts.append(rendered.take(pa.array(code)))
    body = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*parts, ""), 1)
    wrapped = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), wrapped)


def drop_untimed(data: pa.Table, lines: np.ndarray, ctx) -> pa.Table:
    """``data`` without the rows whose ``ts`` is null, each reported to ``ctx`` (a ParseContext) by line."""
    if not data["ts"].null_count:
        return data
    has_ts = pc.is_valid(data["ts"])
    for row in np.flatnonzero(~np.asarray(has_ts)):
        ctx.warn(int(lines[row]), "no timestamp: row cannot be placed in time", "")
    return data.filter(has_ts)

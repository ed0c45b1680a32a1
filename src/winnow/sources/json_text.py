"""Arrow columns rendered as JSON text, exactly as the row-by-row code renders one value.

:func:`json_values` gives what :data:`winnow.sources.windows_map.compact_json` (Python's ``json`` without ASCII
escapes, no spaces) gives for each value; :func:`as_text` what :func:`winnow.sources.windows_map.text` gives; and
:func:`json_strings` the JSON literal of each text (:func:`json_strings_distinct`: of each distinct text once).
Values are text, integers, booleans, nulls and objects of those (Arrow structs); text is escaped column-wise, and
only text holding a rare control character goes through Python's ``json``, value by value.
:func:`lone_surrogate` tells the JSON lines no column can hold (an escaped lone UTF-16 surrogate, ``\ud800``, is
valid JSON but no UTF-8 text): every JSON-lines source warns on them.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_S = pa.string()
_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]")
#: the warning of a line holding a lone surrogate
SURROGATE_REASON = "text holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
#: what Python's ``json`` escapes (ensure_ascii off): the quote, the backslash and the control characters
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_SHORT_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"),
                  ("\f", "\\f"))
#: control characters without a short escape: written ``\u00XX``, left to Python's ``json``
_OTHER_CONTROL = r"[\x00-\x07\x0b\x0e-\x1f]"


def lone_surrogate(raw: bytes, value: object) -> bool:
    """Whether ``value``, parsed from the JSON line ``raw``, holds a lone UTF-16 surrogate (no UTF-8 text can)."""
    if not _SURROGATE.search(raw):  # the escape must be in the line: a cheap test first
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def json_strings(values: pa.Array) -> pa.Array:
    """Each text as a JSON string literal (null stays null)."""
    escaped = values
    if pc.any(pc.match_substring_regex(values, _NEEDS_ESCAPE)).as_py():
        for raw, written in _SHORT_ESCAPES:
            if pc.any(pc.match_substring(escaped, raw)).as_py():
                escaped = pc.replace_substring(escaped, raw, written)
        rare = np.flatnonzero(np.asarray(pc.fill_null(pc.match_substring_regex(values, _OTHER_CONTROL), False)))
        if len(rare):
            quoted = pc.binary_join_element_wise('"', escaped, '"', "")
            exact = [json.dumps(v, ensure_ascii=False) for v in pc.take(values, pa.array(rare)).to_pylist()]
            mask = np.zeros(len(values), bool)
            mask[rare] = True
            return pc.replace_with_mask(quoted, pa.array(mask), pa.array(exact, _S))
    return pc.binary_join_element_wise('"', escaped, '"', "")


def json_strings_all(arrays: list[pa.Array]) -> list[pa.Array]:
    """:func:`json_strings` of several arrays of text at once (one pass of each kernel, not one per array)."""
    if len(arrays) < 2:
        return [json_strings(a) for a in arrays]
    quoted = json_strings(pa.concat_arrays([a.cast(_S) for a in arrays]))
    out, start = [], 0
    for a in arrays:
        out.append(quoted.slice(start, len(a)))
        start += len(a)
    return out


def json_strings_distinct(arrays: list[pa.Array]) -> list[pa.Array]:
    """:func:`json_strings_all`, each distinct text quoted once (dictionary-encoded): cheaper where values repeat
    (host names, paths, user names ...)."""
    encoded = [pc.dictionary_encode(a) for a in arrays]
    quoted = json_strings_all([e.dictionary for e in encoded])
    return [pc.take(q, e.indices) for q, e in zip(quoted, encoded, strict=True)]


def json_values(values: pa.Array) -> pa.Array:
    """Each value as compact JSON text (``null`` for a null)."""
    kind = values.type
    if pa.types.is_string(kind):
        out = json_strings(values)
    elif pa.types.is_integer(kind):
        out = pc.cast(values, _S)
    elif pa.types.is_boolean(kind):
        out = pc.if_else(values, "true", "false")
    elif pa.types.is_struct(kind):
        pieces = [pc.binary_join_element_wise(f'"{kind.field(i).name}":', json_values(pc.struct_field(values, [i])),
                                              "") for i in range(kind.num_fields)]
        out = pc.binary_join_element_wise("{", pc.binary_join_element_wise(*pieces, ","), "}", "")
        if values.null_count:
            out = pc.if_else(pc.is_valid(values), out, pa.scalar(None, _S))
    elif pa.types.is_null(kind):
        out = pa.nulls(len(values), _S)
    else:
        raise TypeError(f"no JSON rendering for {kind}")
    return pc.fill_null(out, "null")


def as_text(values: pa.Array) -> pa.Array:
    """Each value as ``text()`` gives it: text as it is, other values as compact JSON (null stays null)."""
    kind = values.type
    if pa.types.is_string(kind):
        return values
    if pa.types.is_null(kind):
        return pa.nulls(len(values), _S)
    return pc.if_else(pc.is_valid(values), json_values(values), pa.scalar(None, _S))

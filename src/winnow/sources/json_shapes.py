"""JSON lines read column-wise: a block's lines grouped by shape, each shape read by Arrow against the schema it spells.

The *shape* of a line is the line with every text value removed and every other value replaced by a mark
(``#`` an integer, ``?`` a boolean; null counts as text): ``{"a":"x","b":{"c":12,"d":null}}`` has the shape
``{"a":,"b":{"c":#,"d":}}``. Lines of one shape have the same keys in the same order, their values of the same
types, so one explicit schema reads them all (:func:`shapes`) and which keys a line has is known without
decoding it.

A shape is taken only when it spells plain compact JSON exactly: no spaces between tokens, integers of at most
19 digits (no ``-0``), keys that need no escaping, objects of at least one key, no fractions or exponents, and
arrays only of text without ``:``, quote or backslash, or of integers, or of booleans: the shape holds such an
array as it is (every line of the shape has that very array). Arrow's reader then refuses what Python's ``json``
would refuse or read otherwise (a key given twice, an invalid escape, a control character in text, a surrogate
alone), and the shape's lines are left to the caller, as are lines of every other shape, blank lines and blocks
that are not UTF-8: the caller reads those one by one, the way that reports each bad line.

The shape pass rewrites every line (about 80 ms of CPU per 16 MB); a log's blocks mostly repeat the shapes of the
block before, so :class:`KnownShapes` keeps those, each as one anchored pattern that matches a line exactly when
the line has that shape (each mark spelled out as the values the passes turn into it), and a block's lines are
first matched against them (about 40 ms per 16 MB for the dominant shape): only the lines that none matches go
through the shape pass. The lines of each shape, and so what is read, are the same either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

_TEXT, _INT, _BOOL = r'"[^"\\]*(?:\\.[^"\\]*)*"', r"(?:0|-?[1-9][0-9]{0,18})", r"(?:true|false)"
#: the passes that turn a line into its shape (text values, integers, booleans, nulls), in order
_SHAPE_PASSES = ((":" + _TEXT, ":"), (":" + _INT, ":#"), (":" + _BOOL, ":?"))
_MARKS = re.compile(r":([#?]?)(?=[,}])")
#: the values a mark of a shape stands for in a line (a null leaves the mark of text)
_MARK_PATTERNS = {"": f"(?:{_TEXT}|null)", "#": _INT, "?": _BOOL}
_REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")
_MARK_VALUES = {"#": ":0", "?": ":true", "": ':""'}
_PLAIN_KEY = re.compile(r'[^"\\\x00-\x1f:]+')
_LIST_TEXT = re.compile(r'[^"\\\x00-\x1f:]*')
#: Arrow's JSON reader parses this many bytes per task (in parallel), at least the longest line
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class Shape:
    """Lines of one shape: their positions in the block, their values as read, and the shape as an object."""

    rows: np.ndarray
    #: the lines as they are in the file, each with its newline
    lines: pa.Array
    table: pa.Table
    #: the shape as a Python object: each key's mark ("" text or null, 0 integer, True boolean), nested dict or
    #: the array every line has there
    keys: dict[str, Any]


def block_lines(block: bytes) -> pa.Array | None:
    """The lines of a block (each with its newline) as Arrow text; None when the block is not UTF-8."""
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
    offsets = np.concatenate([[0], ends + 1]).astype(np.int32)
    if len(block) and not block.endswith(b"\n"):
        offsets = np.append(offsets, np.int32(len(block)))
    raw = pa.Array.from_buffers(pa.binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    try:
        return raw.cast(pa.string())
    except pa.ArrowInvalid:
        return None


class KnownShapes:
    """The shapes of a log's latest block that read column-wise, most lines first, as the patterns that match
    their lines (:func:`shape_pattern`); at most ``limit`` of them (0: none, every line takes the shape pass).

    Which shapes are known changes only how fast a block is grouped, never the groups: blocks prepared on
    several threads may share one.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.patterns: tuple[tuple[str, str], ...] = ()  # (signature, pattern)

    def remember(self, signatures: list[str]) -> None:
        """Keep these shapes (most lines first) for the next block."""
        known = dict(self.patterns)
        self.patterns = tuple((s, known.get(s) or shape_pattern(s)) for s in signatures[: self.limit])


def shape_pattern(signature: str) -> str:
    """A regular expression (RE2) matching lines, with their line end, of the shape ``signature`` (one that
    :func:`_keys` takes): the passes turn any line it matches into that shape."""
    parts, at = ["^"], 0
    for mark in _MARKS.finditer(signature):
        parts += [_REGEX_SPECIAL.sub(r"\\\1", signature[at: mark.start() + 1]), _MARK_PATTERNS[mark.group(1)]]
        at = mark.end()
    return "".join([*parts, _REGEX_SPECIAL.sub(r"\\\1", signature[at:]), r"[\r\n]*\z"])


def shapes(lines: pa.Array, min_rows: int, known: KnownShapes | None = None) -> tuple[list[Shape], np.ndarray]:
    """The shapes of at least ``min_rows`` lines that read column-wise, and the positions of every other line.

    Args:
        lines: the lines of a block as :func:`block_lines` gives them.
        min_rows: fewer lines of a shape are left to the caller.
        known: shapes to match the lines against before the shape pass; updated with this block's.
    """
    group = np.full(len(lines), -1, np.int64)
    spelled: list[str] = []
    left = np.arange(len(lines))
    for signature, pattern in known.patterns if known is not None else ():
        if len(left) < min_rows:
            break
        try:
            hit = np.asarray(pc.match_substring_regex(_subset(lines, left), pattern))
        except pa.ArrowInvalid:  # too large for RE2 (a shape of thousands of keys): its lines take the shape pass
            continue
        if hit.any():
            group[left[hit]] = len(spelled)
            spelled.append(signature)
            left = left[~hit]
    if len(left):
        signature = pc.utf8_rtrim(_subset(lines, left), "\r\n")
        for pattern, replacement in _SHAPE_PASSES:
            signature = pc.replace_substring_regex(signature, pattern, replacement)
        encoded = pc.dictionary_encode(pc.replace_substring(signature, ":null", ":"))
        codes = {s: i for i, s in enumerate(spelled)}
        found = np.array([codes.setdefault(s, len(codes)) for s in encoded.dictionary.to_pylist()], np.int64)
        spelled = list(codes)
        group[left] = found[np.asarray(encoded.indices)]
    first = np.full(len(spelled), len(lines))
    np.minimum.at(first, group, np.arange(len(lines)))
    counts = np.bincount(group, minlength=len(spelled))
    taken: list[Shape] = []
    rest = []
    read: list[int] = []
    for code in np.argsort(first, kind="stable").tolist():  # in the order the shapes first come in the block
        rows = np.flatnonzero(group == code)
        keys = _keys(spelled[code]) if counts[code] >= min_rows else None
        texts = None if keys is None else _subset(lines, rows)
        table = None if texts is None else _read(texts, keys)
        if table is None:
            rest.append(rows)
        else:
            taken.append(Shape(rows, texts, table, keys))
            read.append(code)
    if known is not None:
        known.remember([spelled[code] for code in sorted(read, key=lambda c: -counts[c])])
    return taken, np.sort(np.concatenate(rest)) if rest else np.empty(0, np.int64)


def _subset(lines: pa.Array, rows: np.ndarray) -> pa.Array:
    return lines if len(rows) == len(lines) else pc.take(lines, pa.array(rows))


def _keys(signature: str) -> dict[str, Any] | None:
    """The shape spelled by a signature, or None when it does not spell plain compact JSON exactly."""
    try:
        keys = json.loads(_MARKS.sub(lambda m: _MARK_VALUES[m.group(1)], signature))
    except ValueError:
        return None
    if not isinstance(keys, dict) or _spell(keys) != signature:
        return None
    return keys


def _spell(value: Any) -> str | None:
    """The signature of a shape object (None for what a shape may not hold)."""
    if isinstance(value, bool):
        return "?"
    if isinstance(value, int):
        return "#"
    if isinstance(value, str):
        return ""
    if isinstance(value, list):
        return _spell_list(value)
    if not isinstance(value, dict) or not value:
        return None
    parts = []
    for key, item in value.items():
        spelled = _spell(item)
        if spelled is None or not _PLAIN_KEY.fullmatch(key):
            return None
        parts.append(f'"{key}":{spelled}')
    return "{" + ",".join(parts) + "}"


def _spell_list(items: list) -> str | None:
    """An array's own text, when the shape may hold it as it is: compact, of text without ``:``, quote, backslash
    or control character (the passes that make a shape then leave it alone), or of integers, or of booleans."""
    kinds = {type(item) for item in items}
    if len(kinds) > 1 or kinds - {str, int, bool}:
        return None
    if str in kinds and not all(_LIST_TEXT.fullmatch(item) for item in items):
        return None
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


def _type(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, list):
        return pa.list_(_type(value[0]) if value else pa.string())
    return pa.struct([(key, _type(item)) for key, item in value.items()])


def _read(lines: pa.Array, keys: dict[str, Any]) -> pa.Table | None:
    """Lines of one shape read by Arrow against its schema; None when Arrow refuses one of them."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    buffer = lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    longest = int(np.diff(offsets).max())
    options = pj.ParseOptions(explicit_schema=pa.schema([(k, _type(v)) for k, v in keys.items()]),
                              unexpected_field_behavior="error", newlines_in_values=False)
    try:
        table = pj.read_json(pa.BufferReader(buffer), parse_options=options,
                             read_options=pj.ReadOptions(block_size=max(READ_BYTES, 2 * longest + 2)))
    except pa.ArrowInvalid:
        return None
    return table if table.num_rows == len(lines) else None

"""Column-wise twins of the hottest mapping helpers of :mod:`winnow.sources.windows_map`.

A twin takes the rule's inputs as Arrow arrays (one value per event) and gives what the helper gives value by
value, or None when the inputs are of a kind it does not take (the helper then runs once per distinct value, as
for every helper without a twin). Twins exist for helpers whose inputs have about one distinct value per event
(times, process ids, ports, addresses), where calling the helper per distinct value means calling it per event.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources import windows_map as wm

_S, _I = pa.string(), pa.int64()


def _is_text(*arrays: pa.Array) -> bool:
    return all(pa.types.is_string(a.type) or pa.types.is_null(a.type) for a in arrays)


def _to_int(values: pa.Array) -> pa.Array | None:
    if pa.types.is_integer(values.type):
        return pc.cast(values, _I)
    if pa.types.is_null(values.type) or pa.types.is_boolean(values.type):
        return pa.nulls(len(values), _I)
    if not pa.types.is_string(values.type):
        return None
    try:  # plain decimal text only; anything else (spaces, 0x, words) the helper reads value by value
        return pc.cast(values, _I)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # None: the caller maps this column value by value (its warnings stay per row)


def _nonempty(values: pa.Array) -> pa.Array | None:
    if not _is_text(values):
        return None
    values = pc.cast(values, _S)
    return pc.if_else(pc.is_in(values, pa.array(["-", ""])), pa.scalar(None, _S), values)


def _ip(values: pa.Array) -> pa.Array | None:
    ip = _nonempty(values)
    if ip is None:
        return None
    mapped = pc.and_(pc.starts_with(pc.utf8_lower(ip), "::ffff:"), pc.match_substring(ip, "."))
    return pc.if_else(pc.fill_null(mapped, False), pc.utf8_slice_codeunits(ip, 7), ip)


def _first(value: pa.Array, fallback: pa.Array) -> pa.Array | None:
    if not _is_text(value, fallback):
        return None
    value, fallback = pc.cast(value, _S), pc.cast(fallback, _S)
    return pc.if_else(pc.fill_null(pc.greater(pc.utf8_length(value), 0), False), value, fallback)


def _pick(swapped: pa.Array, logged: pa.Array, other: pa.Array) -> pa.Array | None:
    if pa.types.is_null(logged.type):
        logged = pa.nulls(len(logged), other.type)
    if pa.types.is_null(other.type):
        other = pa.nulls(len(other), logged.type)
    if not pa.types.is_boolean(swapped.type) or swapped.null_count or logged.type != other.type:
        return None
    return pc.if_else(swapped, other, logged)


def _swapped(outbound: pa.Array, src_port: pa.Array, dst_port: pa.Array) -> pa.Array | None:
    if not pa.types.is_boolean(outbound.type) or outbound.null_count or not all(
            pa.types.is_integer(p.type) or pa.types.is_null(p.type) for p in (src_port, dst_port)):
        return None
    less = pc.fill_null(pc.less(pc.cast(src_port, _I), pc.cast(dst_port, _I)), False)
    return pc.and_(pc.invert(outbound), less)


def _identity(value: pa.Array) -> pa.Array:
    return value


#: helper -> its column-wise twin
TWINS: dict[Callable, Callable[..., pa.Array | None]] = {
    wm.to_int: _to_int, wm.nonempty: _nonempty, wm.ip: _ip, wm.first: _first, wm.pick: _pick,
    wm.swapped: _swapped, wm.identity: _identity,
}

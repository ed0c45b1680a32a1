"""auditd logons a block at a time: USER_AUTH, USER_LOGIN, USER_ERR, USER_LOGOUT, USER_START, USER_END, CRED_ACQ and
USER_CMD records -> ``auth.logon``.

:func:`logon_rows` reads the fields of a block's userspace records with Arrow (the ``key=value`` tokens around and
inside ``msg='...'``, split by :func:`~winnow.sources.auditd_columns.plain_fields` when they are a plain run of tokens)
and maps each distinct combination of the fields a row depends on once, through
:func:`~winnow.sources.auditd_events.logon_fields` (the record-by-record mapping itself), so that a cron job's or an
SSH server's records, which differ only in time, pid and session, cost a dictionary look-up each. It declines (for
:class:`~winnow.sources.auditd_events.Mapper`) records without a closed ``msg='...'``, enriched fields and anything
else that is not a plain run of tokens (the old ``acct=root : exe=... (hostname=?, ...)`` layout is not).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.auditd_columns import PLAIN_BODY, STAMP, kept, per_value, plain_fields
from winnow.sources.auditd_events import LOGON_KEYS, logon_fields
from winnow.sources.auditd_records import number

_S, _I = pa.string(), pa.int64()
_TS = pa.timestamp("us", tz="UTC")
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def logon_rows(kinds: list[str], stamps: list[str], nodes: list[str | None], bodies: list[str], lines: list[int],
               types: dict[str, pa.DataType]) -> tuple[pa.Table | None, list[int]]:
    """auth.logon rows of userspace records (one per record), and the indexes of the records to map one by one."""
    body = pa.array(bodies, _S)
    stamp_array = pa.array(stamps, _S)
    ok = pc.and_(pc.match_substring(body, "msg='"), pc.match_substring_regex(stamp_array, STAMP))
    # as fields() reads them: the text before msg=', inside it (up to the last quote) and after it
    around = pc.split_pattern(pc.if_else(ok, body, pa.scalar("msg=''")), "msg='", max_splits=1)
    head, rest = pc.list_element(around, 0), pc.list_element(around, 1)
    ok = pc.and_(ok, pc.match_substring(rest, "'"))
    closed = pc.split_pattern(pc.if_else(ok, rest, pa.scalar("'")), "'", max_splits=1, reverse=True)
    inner, tail = pc.list_element(closed, 0), pc.list_element(closed, 1)
    whole = pc.binary_join_element_wise(head, inner, tail, " ")
    ok = pc.and_(ok, pc.invert(pc.match_substring(whole, "SADDR={")))
    ok = pc.and_(ok, pc.match_substring_regex(whole, PLAIN_BODY))
    take, declined = kept(ok)
    if take is None:
        return None, declined
    found = plain_fields(whole.take(take), (*LOGON_KEYS, "pid", "ses"))
    kept_kinds = [kinds[i] for i in take.to_pylist()]
    keys = list(zip(kept_kinds, *(found[key].to_pylist() for key in LOGON_KEYS), strict=True))
    mapped: dict[tuple, tuple[dict, str | None]] = {}
    rows = []
    for key in keys:
        row = mapped.get(key)
        if row is None:
            values, extra = logon_fields(key[0], {k: v for k, v in zip(LOGON_KEYS, key[1:], strict=True)
                                                  if v is not None}, True)
            given = {k: v for k, v in extra.items() if v is not None}
            row = mapped[key] = (values, _compact(given) if given else None)
        rows.append(row)
    stamp = pc.extract_regex(stamp_array.take(take), STAMP)
    micros = pc.utf8_rpad(pc.struct_field(stamp, "f"), 6, "0")
    ses = per_value(found["ses"], number, _I)
    out: dict[str, pa.Array] = {
        "ts": pc.add(pc.multiply(pc.cast(pc.struct_field(stamp, "s"), _I), 1_000_000), pc.cast(micros, _I)).cast(_TS),
        "host": pa.array(nodes, _S).take(take),
        "record_id": pc.cast(pc.struct_field(stamp, "n"), _I),
        "pid": per_value(found["pid"], number, _I),
        "logon_id": pc.cast(ses, _S),
    }
    columns = {name for values, _ in mapped.values() for name in values}
    for name, kind in types.items():
        if name in columns:
            out[name] = pa.array([values.get(name) for values, _ in rows], kind)
    table = {name: out[name].cast(kind) for name, kind in types.items() if name in out}
    table["extra"] = pa.array([extra for _, extra in rows], _S)
    table["_line"] = pa.array(lines, _I).take(take)
    return pa.table(table), declined

"""Where a value can appear: the columns of a table to compare with it, and how (pivot and timeline share this)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from winnow.addresses import is_address
from winnow.hunting.sql import ident, literal, window

if TYPE_CHECKING:
    from winnow.engine import ReadOnlySQL

#: columns never searched for a value: bookkeeping, and JSON documents (unmapped fields, Windows event
#: data, a finding's numbers), which hold values but never equal one
SKIPPED = frozenset({"extra", "_source_file", "_source_format", "_ingest_id", "data", "components", "evidence"})
#: integer columns searched when the value is a whole number (ports, process and event ids)
NUMBERED = frozenset({"src_port", "dst_port", "pid", "ppid", "event_id", "signature_id", "process_id", "status"})
#: columns holding an executable path: a bare file name (``powershell.exe``) matches its last component too
PATHS = frozenset({"image", "parent_image", "target_image", "source_image", "image_loaded", "process"})
#: columns holding a DNS name: a domain matches its subdomains too (``evil.com`` matches ``a.evil.com``)
DOMAINS = frozenset({"query", "server_name", "dst_hostname"})
#: columns holding a host name: a short name matches the fully qualified one (``WS00042`` -> ``WS00042.corp.local``)
HOSTS = frozenset({"host", "workstation", "dst_hostname"})
#: columns holding an account: a bare name matches it with its domain (``alice`` -> ``CORP\alice``)
USERS = frozenset({"user", "subject_user", "target_user", "member_name", "username"})
_WHOLE = re.compile(r"^-?\d{1,18}$")
_ADDRESS = "address"
#: columns compared only with values of their shape, the shape a regular expression or ``address``:
#: ingest keeps ``src_ip``/``dst_ip`` to valid addresses (anything else is stored as null), ids and
#: lists have a form of their own, and reading them for values they cannot hold costs the most
SHAPES: dict[str, str] = {
    "src_ip": _ADDRESS, "dst_ip": _ADDRESS,
    "uid": r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9]{10,}$",  # Zeek connection uids (CHhAvVGS1DHFjwGM9)
    "process_guid": r"^[{0-9A-Fa-f-]{8,}|:",  # Sysmon GUIDs, or host:pid:start (auditd)
    "parent_process_guid": r"^[{0-9A-Fa-f-]{8,}|:",
    "answers": r"^[^/\\\s]*[.:]",  # DNS answers: addresses and names
    "cert_chain_fps": r"^[0-9a-fA-F:]{16,}$",  # certificate fingerprints
    "resp_mime_types": r"^[\w.+-]+/[\w.+-]+$",  # MIME types
}


def predicates(table: str, columns: dict[str, str], value: str) -> dict[str, str]:
    """For each column of ``table`` (name -> DuckDB type) that ``value`` may appear in, the SQL condition
    that it does: equality for text and numbers, membership for lists of text, and the short forms a
    hunter types: an executable's file name, a domain's subdomains, a host's short name, an account
    without its domain."""
    text = literal(value)
    address = is_address(value)
    out: dict[str, str] = {}
    for name, kind in columns.items():
        c = ident(name)
        shape = SHAPES.get(name)
        if name in SKIPPED or (shape is not None and not (address if shape == _ADDRESS else re.search(shape, value))):
            continue
        if kind == "VARCHAR":
            out[name] = _text_condition(table, name, value, address)
        elif kind == "VARCHAR[]":
            out[name] = f"list_contains({c}, {text})"
        elif name in NUMBERED and kind in ("INTEGER", "BIGINT") and _WHOLE.match(value):
            out[name] = f"{c} = {int(value)}"
    return out


def _text_condition(table: str, name: str, value: str, address: bool) -> str:
    """Equality, or with the short forms of ``value`` ``name`` may hold (none for an address)."""
    c, forms = ident(name), []
    bare = not address and "/" not in value and "\\" not in value
    if name in PATHS and bare:
        forms += [f"ends_with({c}, {literal('/' + value)})", f"ends_with({c}, {literal(chr(92) + value)})"]
    if (name in DOMAINS or (table == "net.http" and name == "host")) and "." in value and not address:
        forms.append(f"ends_with({c}, {literal('.' + value)})")
    if name in HOSTS and table != "net.http" and bare and "." not in value:
        forms.append(f"starts_with({c}, {literal(value + '.')})")
    if name in USERS and bare:
        forms.append(f"ends_with({c}, {literal(chr(92) + value)})")
    exact = f"{c} = {literal(value)}"
    return f"({' OR '.join([exact, *forms])})" if forms else exact


def locate(con: ReadOnlySQL, value: str, since: dt.datetime | None = None,
           until: dt.datetime | None = None) -> list[tuple[str, str, str, int]]:
    """Where ``value`` appears: ``(table, column, condition, rows)`` for every column of every table with
    at least one row (in [since, until) when given: tables without ``ts`` are then left out), in table
    order. One scan of each table counts all its columns at once."""
    timed = since is not None or until is not None
    found = {t: predicates(t, con.columns(t), value) for t in con.tables
             if not timed or "ts" in con.columns(t)}
    found = {t: conds for t, conds in found.items() if conds}
    if not found:
        return []
    within = " WHERE " + " AND ".join(window(since, until)) if timed else ""
    counts = " UNION ALL ".join(
        f"SELECT {literal(t)} AS t, [{', '.join(f'count_if({c})::BIGINT' for c in conds.values())}] AS n "
        f"FROM {ident(t)}{within}"
        for t, conds in found.items())
    out = []
    for row in con.run(counts).to_pylist():
        conds = found[row["t"]]
        out += [(row["t"], column, conds[column], n) for column, n in zip(conds, row["n"], strict=True) if n]
    return out

"""One line about a row of each table, as SQL: the ``summary`` column of a timeline."""

from __future__ import annotations

import re

from winnow.hunting.sql import ident, literal

_FLOW = "{src_ip}:{src_port} -> {dst_ip}:{dst_port}"
#: per table, a template of the line: ``{column}`` is the column's value, ``-`` when null
TEMPLATES = {
    "net.conn": "{proto} " + _FLOW + " {service} {conn_state} {duration} s, {src_bytes} B out, {dst_bytes} B in",
    "net.open_conn": "open {proto} " + _FLOW + " {service} {duration} s, {src_bytes} B out, {dst_bytes} B in",
    "net.dns": "{src_ip} asked {dst_ip} {query} {qtype_name}: {rcode_name} {answers}",
    "net.http": _FLOW + " {method} {host}{uri} {status} {user_agent}",
    "net.tls": _FLOW + " TLS {server_name} {version} ja3 {ja3}",
    "net.conn_proc": "{image} (pid {pid}, {side}) " + _FLOW + " {proto}, {src_bytes} B out, {dst_bytes} B in",
    "proc.exec": "{action} {image} (pid {pid}) as {user}: {command_line} [parent {parent_image}]",
    "proc.net": "{image} (pid {pid}) {action} {proto} " + _FLOW,
    "proc.file": "{image} (pid {pid}) {action} {path}",
    "proc.dns": "{image} (pid {pid}) looked up {query}: {results}",
    "auth.logon": "{action} {outcome} {user} on {host} from {src_ip} ({logon_type} {method}) {reason}",
    "ids.alert": "{signature} [{category}, severity {severity}] {proto} " + _FLOW + " {action}",
    "win.event": "{channel} {event_id} {provider}",
    "findings": "{detector} {severity} {score}: {why}",
}
#: columns of a table without a template shown as ``name=value``, at most this many
GENERIC_COLUMNS = 6
_SKIP = {"ts", "extra", "sensor", "_source_file", "_source_format", "_line", "_ingest_id"}


def summary_sql(table: str, columns: list[str]) -> str:
    """The SQL expression of ``table``'s one-line summary over its ``columns``."""
    template = TEMPLATES.get(table)
    if template is None:
        shown = [c for c in columns if c not in _SKIP][:GENERIC_COLUMNS]
        parts = [f"CASE WHEN {ident(c)} IS NOT NULL THEN {literal(c + '=')} || CAST({ident(c)} AS VARCHAR) END"
                 for c in shown]
        return f"concat_ws(' ', {', '.join(parts) or literal(table)})"
    pieces = []
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2 == 0:
            if piece:
                pieces.append(literal(piece))
        elif piece in columns:
            pieces.append(f"coalesce(CAST({ident(piece)} AS VARCHAR), '-')")
        else:
            pieces.append("'-'")
    return f"concat({', '.join(pieces)})"

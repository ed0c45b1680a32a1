"""Which Zeek log goes to which table, how its fields are renamed, and which columns are derived.

Shared by the TSV and JSON Zeek sources. Field names are Zeek's dotted ones; JSON pipelines
that rewrite ``id.orig_h`` as ``id_orig_h`` are mapped back by :func:`canonical_field`.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

_ENDPOINTS = {
    "ts": "ts",
    "uid": "uid",
    "id.orig_h": "src_ip",
    "id.orig_p": "src_port",
    "id.resp_h": "dst_ip",
    "id.resp_p": "dst_port",
}

_CONN = {
    "proto": "proto", "service": "service", "duration": "duration",
    "orig_bytes": "src_bytes", "resp_bytes": "dst_bytes", "orig_pkts": "src_pkts", "resp_pkts": "dst_pkts",
    "orig_ip_bytes": "src_ip_bytes", "resp_ip_bytes": "dst_ip_bytes", "conn_state": "conn_state",
    "history": "history", "local_orig": "local_orig", "local_resp": "local_resp", "missed_bytes": "missed_bytes",
}
_DNS = {
    "proto": "proto", "trans_id": "trans_id", "rtt": "rtt", "query": "query", "qclass": "qclass",
    "qtype": "qtype", "qtype_name": "qtype_name", "rcode": "rcode", "rcode_name": "rcode_name",
    "AA": "aa", "TC": "tc", "RD": "rd", "RA": "ra", "answers": "answers", "TTLs": "ttls", "rejected": "rejected",
}
_HTTP = {
    "trans_depth": "trans_depth", "method": "method", "host": "host", "uri": "uri", "referrer": "referrer",
    "version": "version", "user_agent": "user_agent", "request_body_len": "request_body_len",
    "response_body_len": "response_body_len", "status_code": "status", "status_msg": "status_msg",
    "username": "username", "proxied": "proxied", "resp_mime_types": "resp_mime_types",
}
_SSL = {
    "version": "version", "cipher": "cipher", "curve": "curve", "server_name": "server_name",
    "resumed": "resumed", "established": "established", "next_protocol": "next_protocol",
    "subject": "subject", "issuer": "issuer", "validation_status": "validation_status",
    "ja3": "ja3", "ja3s": "ja3s", "cert_chain_fps": "cert_chain_fps",
}
#: ssh.log: ``uid`` has no auth.logon column and stays in ``extra`` with client, server, algorithms, direction
_SSH = {
    **{k: v for k, v in _ENDPOINTS.items() if k != "uid"},
    "auth_success": "outcome", "auth_attempts": "attempts",
}

#: the tables the Zeek sources (TSV and JSON) fill
ZEEK_TABLES = ("net.conn", "net.open_conn", "net.dns", "net.http", "net.tls", "auth.logon")
#: Zeek log path -> (table, {zeek field: column})
ZEEK_LOGS: dict[str, tuple[str, dict[str, str]]] = {
    "conn": ("net.conn", {**_ENDPOINTS, **_CONN}),
    "open_conn": ("net.open_conn", {**_ENDPOINTS, **_CONN}),
    "dns": ("net.dns", {**_ENDPOINTS, **_DNS}),
    "http": ("net.http", {**_ENDPOINTS, **_HTTP}),
    "ssl": ("net.tls", {**_ENDPOINTS, **_SSL}),
    "ssh": ("auth.logon", _SSH),
}


def _ssh_columns(columns: dict[str, pa.Array], n: int) -> None:
    """ssh.log rows are logons: outcome from ``auth_success`` (T success, F failure, unset unknown);
    ``attempts`` is ``auth_attempts``, 1 when the log has no such field or leaves it unset."""
    flag = pc.utf8_lower(columns["outcome"])
    columns["outcome"] = pc.fill_null(
        pc.if_else(pc.is_in(flag, pa.array(["t", "true"])), "success",
                   pc.if_else(pc.is_in(flag, pa.array(["f", "false"])), "failure", "unknown")),
        "unknown",
    )
    columns["attempts"] = pc.fill_null(columns["attempts"], 1)
    for name, value in (("action", "logon"), ("method", "ssh"), ("logon_type", "ssh")):
        columns[name] = pa.repeat(pa.scalar(value, pa.string()), n)


#: per log path: fills or rewrites table columns after renaming and typing (columns, rows) -> None
DERIVED: dict[str, Callable[[dict[str, pa.Array], int], None]] = {"ssh": _ssh_columns}

#: fields that name the sensor that wrote the record
SENSOR_FIELDS = ("_node_name", "@system")
#: fields that name the log path inside the record
PATH_FIELDS = ("_path", "@stream")

#: field sets that identify a log kind when the record does not say (JSON without _path)
_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("conn", frozenset({"conn_state"})),
    ("conn", frozenset({"history", "orig_bytes"})),
    ("dns", frozenset({"query", "qtype"})),
    ("dns", frozenset({"query", "trans_id"})),
    ("http", frozenset({"method", "uri"})),
    ("http", frozenset({"trans_depth", "user_agent"})),
    ("ssl", frozenset({"server_name", "cipher"})),
    ("ssl", frozenset({"ssl_history"})),
    ("ssl", frozenset({"version", "established", "resumed"})),
    ("ssh", frozenset({"auth_attempts", "client"})),
    ("ssh", frozenset({"auth_success", "client"})),
)

_UNDERSCORED = {k.replace(".", "_"): k for _, (_, m) in ZEEK_LOGS.items() for k in m if "." in k}


def canonical_field(name: str) -> str:
    """Map a pipeline-rewritten field name (``id_orig_h``) back to Zeek's (``id.orig_h``)."""
    return _UNDERSCORED.get(name, name)


OTHER_ZEEK_LOGS = frozenset(
    "open_http open_ssl x509 files notice weird dhcp dpd kerberos smb_files smb_mapping dce_rpc "
    "pe ntlm rdp sip snmp tunnel quic telemetry known_certs known_hosts known_services software capture_loss "
    "stats ntp ftp smtp mysql radius irc socks syslog loaded_scripts packet_filter reporter conn-summary "
    "analyzer ocsp modbus dnp3 signatures traceroute intel".split()
)


def guess_path(fields: set[str], filename: str) -> str | None:
    """Guess the Zeek log kind of a record without ``_path``: file name first, then field names."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    stem = base.split(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    if stem in ZEEK_LOGS or stem in OTHER_ZEEK_LOGS:
        return stem
    for path, needed in _SIGNATURES:
        if needed <= fields:
            return path
    if tail in ZEEK_LOGS:
        return tail
    return None

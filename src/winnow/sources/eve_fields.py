"""Suricata EVE fields: the schema the JSON reader is given, and how flow/dns/http/tls records map to net.*.

The reader reads only the fields declared here (``unexpected_field_behavior="ignore"``), so the many
other EVE objects (smb, stats, fileinfo ...) cost nothing and cannot break type inference.

Mappings (docs/SCHEMA.md has the columns):

* ``flow`` -> net.conn: ``ts`` is ``flow.start``; ``uid`` the ``flow_id``; ``duration`` end - start;
  EVE counts whole packets, so ``bytes_toserver``/``bytes_toclient`` fill both ``src_bytes``/``dst_bytes`` and
  ``src_ip_bytes``/``dst_ip_bytes`` (as NetFlow does); ``service`` is ``app_proto`` (not ``failed``).
* ``dns`` -> net.dns: one row per transaction: a query record is dropped when the answer record of the
  same (flow_id, dns.id) is in the same read block (the answer carries the query name); answers come from
  the v2 ``answers`` list or the v1 one-record-per-answer ``rdata``; Suricata 8's ``queries`` list gives
  the name when ``rrname`` is absent.
* ``http`` -> net.http, ``tls`` -> net.tls (SNI, version, subject, issuer, JA3/JA3S, certificate SHA-1).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

S, I64, B = pa.string(), pa.int64(), pa.bool_()
TS = pa.timestamp("us", tz="UTC")

READ_SCHEMA = pa.schema([
    ("timestamp", TS), ("event_type", S), ("flow_id", I64), ("host", S), ("in_iface", S),
    ("src_ip", S), ("src_port", I64), ("dest_ip", S), ("dest_port", I64), ("proto", S), ("app_proto", S),
    ("community_id", S),
    ("flow", pa.struct([("start", TS), ("end", TS), ("pkts_toserver", I64), ("pkts_toclient", I64),
                        ("bytes_toserver", I64), ("bytes_toclient", I64), ("state", S), ("reason", S)])),
    ("dns", pa.struct([("type", S), ("id", I64), ("rrname", S), ("rrtype", S), ("rcode", S), ("rdata", S),
                       ("ttl", I64), ("aa", B), ("tc", B), ("rd", B), ("ra", B),
                       ("answers", pa.list_(pa.struct([("rdata", S), ("ttl", I64)]))),
                       ("queries", pa.list_(pa.struct([("rrname", S), ("rrtype", S)])))])),
    ("http", pa.struct([("hostname", S), ("url", S), ("http_user_agent", S), ("http_method", S),
                        ("protocol", S), ("status", I64), ("length", I64), ("http_refer", S),
                        ("http_content_type", S)])),
    ("tls", pa.struct([("sni", S), ("version", S), ("subject", S), ("issuerdn", S), ("fingerprint", S),
                       ("ja3", pa.struct([("hash", S)])), ("ja3s", pa.struct([("hash", S)]))])),
])

#: EVE event_type -> table its records go to (``alert`` goes to ids.alert through ids_rows)
EVE_TABLES = {"flow": "net.conn", "dns": "net.dns", "http": "net.http", "tls": "net.tls"}

_PLAIN = {
    "net.conn": {"flow.pkts_toserver": "src_pkts", "flow.pkts_toclient": "dst_pkts",
                 "flow.bytes_toserver": "src_bytes", "flow.bytes_toclient": "dst_bytes"},
    "net.dns": {"dns.id": "trans_id", "dns.rrtype": "qtype_name", "dns.rcode": "rcode_name",
                "dns.aa": "aa", "dns.tc": "tc", "dns.rd": "rd", "dns.ra": "ra"},
    "net.http": {"http.http_method": "method", "http.hostname": "host", "http.url": "uri",
                 "http.http_refer": "referrer", "http.protocol": "version", "http.http_user_agent": "user_agent",
                 "http.status": "status", "http.length": "response_body_len"},
    "net.tls": {"tls.version": "version", "tls.sni": "server_name", "tls.subject": "subject",
                "tls.issuerdn": "issuer", "tls.ja3.hash": "ja3", "tls.ja3s.hash": "ja3s"},
}
#: fields kept in ``extra`` per table
_EXTRA = {
    "net.conn": ("community_id", "in_iface", "flow.state", "flow.reason"),
    "net.dns": ("community_id", "in_iface", "dns.type"),
    "net.http": ("community_id", "in_iface", "http.http_content_type"),
    "net.tls": ("community_id", "in_iface"),
}


def lower_proto(arr: pa.Array) -> pa.Array:
    """EVE/Snort protocol names as net.* spells them: tcp, udp, icmp (ICMPv6 too)."""
    low = pc.utf8_lower(arr)
    return pc.if_else(pc.is_in(low, pa.array(["ipv6-icmp", "icmpv6"])), "icmp", low)


def _single_list(arr: pa.Array) -> pa.Array:
    """Each non-null value as a one-item list (null stays null)."""
    return pa.array([None if v is None else [v] for v in arr.to_pylist()], pa.list_(pa.string()))


def _answers(lists: pa.Array, single: pa.Array, field: str, value_type: pa.DataType) -> pa.Array:
    """The ``field`` of each v2 answer as a list, else the v1 single-answer value as a one-item list."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    single = single.combine_chunks() if isinstance(single, pa.ChunkedArray) else single
    values = pc.struct_field(lists.values, field)
    out = pa.ListArray.from_arrays(lists.offsets, values, mask=lists.is_null())
    if single.null_count < len(single):
        one = pa.array([None if v is None else [v] for v in single.to_pylist()], pa.list_(value_type))
        out = pc.if_else(lists.is_null(), one, out)
    return out


def map_columns(table: str, t: pa.Table) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The ``table`` columns and the ``extra`` fields of flattened EVE records of that table's event type."""
    col = t.column
    out: dict[str, pa.Array] = {
        "ts": col("timestamp"), "uid": pc.cast(col("flow_id"), S), "src_ip": col("src_ip"),
        "src_port": col("src_port"), "dst_ip": col("dest_ip"), "dst_port": col("dest_port"),
        "proto": lower_proto(col("proto")),
    }
    for name, target in _PLAIN[table].items():
        out[target] = col(name)
    if table == "net.conn":
        out["ts"] = pc.coalesce(col("flow.start"), col("timestamp"))
        span = pc.subtract(pc.cast(col("flow.end"), I64), pc.cast(col("flow.start"), I64))
        out["duration"] = pc.divide(pc.cast(span, pa.float64()), 1e6)
        out["src_ip_bytes"], out["dst_ip_bytes"] = col("flow.bytes_toserver"), col("flow.bytes_toclient")
        app = col("app_proto")
        out["service"] = pc.if_else(pc.equal(app, "failed"), pa.scalar(None, S), app)
    elif table == "net.dns":
        out["query"] = col("dns.rrname")
        queries = col("dns.queries")
        if queries.null_count < len(queries):  # Suricata 8 (dns v3): the names are in a list
            first = [q[0].get("rrname") if q else None for q in queries.to_pylist()]
            out["query"] = pc.coalesce(out["query"], pa.array(first, S))
        out["answers"] = _answers(col("dns.answers"), col("dns.rdata"), "rdata", S)
        out["ttls"] = pc.cast(_answers(col("dns.answers"), col("dns.ttl"), "ttl", I64), pa.list_(pa.float64()))
    elif table == "net.http":
        out["resp_mime_types"] = _single_list(col("http.http_content_type"))
    elif table == "net.tls":
        out["cert_chain_fps"] = _single_list(col("tls.fingerprint"))
    extra = {name: col(name) for name in _EXTRA[table]}
    if table != "net.conn":
        extra["app_proto"] = col("app_proto")
    return out, extra


def answered_queries(t: pa.Table) -> pa.Array:
    """Mask of dns query records whose answer record (same flow_id and dns.id) is among ``t``'s rows."""
    key = pc.binary_join_element_wise(pc.cast(t["flow_id"], S), pc.cast(t["dns.id"], S), "|")
    kind = pc.utf8_lower(pc.fill_null(t["dns.type"], ""))
    answer = pc.is_in(kind, pa.array(["answer", "response"]))
    answered = pc.filter(key, answer)
    query = pc.invert(answer)
    return pc.fill_null(pc.and_(query, pc.is_in(key, answered)), False)

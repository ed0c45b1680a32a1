"""The normalized tables (docs/ARCHITECTURE.md, "Tables"). docs/SCHEMA.md is generated from these declarations."""

from __future__ import annotations

import pyarrow as pa

from winnow.errors import WinnowError
from winnow.schema.endpoint import ENDPOINT_TABLES
from winnow.schema.ids import IDS_ALERT
from winnow.schema.model import ENDPOINTS, TS, Column, Table
from winnow.schema.windows import WINDOWS_TABLES

S, I64, I32, F64, B = pa.string(), pa.int64(), pa.int32(), pa.float64(), pa.bool_()
LIST_S, LIST_F = pa.list_(pa.string()), pa.list_(pa.float64())

_FLOW = (
    Column("ts", TS, "start of the connection (UTC)", "@timestamp", "time"),
    Column("uid", S, "sensor's connection id; joins conn to dns/http/tls",
           "zeek.session_id", "metadata.correlation_uid"),
    *ENDPOINTS,
)

NET_CONN = Table(
    "net.conn",
    "One row per connection or flow (Zeek conn, NetFlow/IPFIX, Argus).",
    _FLOW + (
        Column("proto", S, "transport protocol: tcp, udp, icmp", "network.transport", "connection_info.protocol_name"),
        Column("service", S, "application protocol(s) detected, comma separated", "network.protocol", "app_name"),
        Column("duration", F64, "seconds from first to last packet", "event.duration", "duration"),
        Column("src_bytes", I64, "payload bytes sent by the originator", "source.bytes", "traffic.bytes_out",
               check="count"),
        Column("dst_bytes", I64, "payload bytes sent by the responder", "destination.bytes", "traffic.bytes_in",
               check="count"),
        Column("src_pkts", I64, "packets sent by the originator", "source.packets", "traffic.packets_out",
               check="count"),
        Column("dst_pkts", I64, "packets sent by the responder", "destination.packets", "traffic.packets_in",
               check="count"),
        Column("src_ip_bytes", I64, "IP-level bytes sent by the originator", "", "", check="count"),
        Column("dst_ip_bytes", I64, "IP-level bytes sent by the responder", "", "", check="count"),
        Column("conn_state", S, "Zeek connection state (S0, SF, REJ, RSTO, OTH, ...)", "", "connection_info.tcp_flags"),
        Column("history", S, "Zeek history string of the connection", "", ""),
        Column("local_orig", B, "originator is in the sensor's local networks",
               "network.direction", "connection_info.direction"),
        Column("local_resp", B, "responder is in the sensor's local networks",
               "network.direction", "connection_info.direction"),
        Column("missed_bytes", I64, "bytes the sensor missed (capture loss)", "", "", check="count"),
    ),
)

NET_OPEN_CONN = Table(
    "net.open_conn",
    "Snapshots of connections still open when the sensor reported (Zeek open_conn, written periodically "
    "while a connection lasts): the same uid recurs with a growing duration.",
    NET_CONN.columns,
)

NET_DNS = Table(
    "net.dns",
    "One row per DNS query/response transaction (Zeek dns).",
    _FLOW + (
        Column("proto", S, "transport protocol", "network.transport", "connection_info.protocol_name"),
        Column("trans_id", I64, "DNS transaction id", "dns.id", "query.packet_uid"),
        Column("rtt", F64, "seconds between query and answer", "", ""),
        Column("query", S, "queried name", "dns.question.name", "query.hostname"),
        Column("qclass", I64, "query class number", "", "query.class"),
        Column("qtype", I64, "query type number", "", ""),
        Column("qtype_name", S, "query type name (A, AAAA, TXT, ...)", "dns.question.type", "query.type"),
        Column("rcode", I64, "response code number", "", "rcode_id"),
        Column("rcode_name", S, "response code name (NOERROR, NXDOMAIN, ...)", "dns.response_code", "rcode"),
        Column("aa", B, "authoritative answer flag", "dns.header_flags", "answers.flags"),
        Column("tc", B, "truncated flag", "dns.header_flags", "answers.flags"),
        Column("rd", B, "recursion desired flag", "dns.header_flags", "answers.flags"),
        Column("ra", B, "recursion available flag", "dns.header_flags", "answers.flags"),
        Column("answers", LIST_S, "answer records (addresses, names, text)", "dns.answers.data", "answers.rdata"),
        Column("ttls", LIST_F, "TTL of each answer, seconds", "dns.answers.ttl", "answers.ttl"),
        Column("rejected", B, "the server rejected the query", "", ""),
    ),
)

NET_HTTP = Table(
    "net.http",
    "One row per HTTP request/response (Zeek http).",
    _FLOW + (
        Column("trans_depth", I64, "pipelined request number within the connection", "", ""),
        Column("method", S, "request method", "http.request.method", "http_request.http_method"),
        Column("host", S, "Host header", "url.domain", "http_request.url.hostname"),
        Column("uri", S, "request URI", "url.original", "http_request.url.path"),
        Column("referrer", S, "Referer header", "http.request.referrer", "http_request.referrer"),
        Column("version", S, "HTTP version", "http.version", "http_request.version"),
        Column("user_agent", S, "User-Agent header", "user_agent.original", "http_request.user_agent"),
        Column("request_body_len", I64, "request body bytes", "http.request.body.bytes", "http_request.length",
               check="count"),
        Column("response_body_len", I64, "response body bytes", "http.response.body.bytes", "http_response.length",
               check="count"),
        Column("status", I64, "response status code", "http.response.status_code", "http_response.code"),
        Column("status_msg", S, "response status text", "", "http_response.message"),
        Column("username", S, "basic-auth user name", "url.username", ""),
        Column("proxied", LIST_S, "proxy headers seen", "", "proxy"),
        Column("resp_mime_types", LIST_S, "MIME types of response bodies",
               "http.response.mime_type", "http_response.content_type"),
    ),
)

NET_TLS = Table(
    "net.tls",
    "One row per TLS/SSL handshake (Zeek ssl).",
    _FLOW + (
        Column("version", S, "negotiated protocol version", "tls.version", "tls.version"),
        Column("cipher", S, "negotiated cipher suite", "tls.cipher", "tls.cipher"),
        Column("curve", S, "key-exchange curve", "tls.curve", ""),
        Column("server_name", S, "SNI server name sent by the client", "tls.client.server_name", "tls.sni"),
        Column("resumed", B, "session was resumed", "tls.resumed", ""),
        Column("established", B, "handshake completed", "tls.established", ""),
        Column("next_protocol", S, "ALPN/NPN protocol", "tls.next_protocol", "tls.alpn"),
        Column("subject", S, "server certificate subject", "tls.server.subject", "tls.certificate.subject"),
        Column("issuer", S, "server certificate issuer", "tls.server.issuer", "tls.certificate.issuer"),
        Column("validation_status", S, "certificate validation result", "", ""),
        Column("ja3", S, "JA3 client fingerprint", "tls.client.ja3", "tls.ja3_hash.value"),
        Column("ja3s", S, "JA3S server fingerprint", "tls.server.ja3s", "tls.ja3s_hash.value"),
        Column("cert_chain_fps", LIST_S, "certificate chain fingerprints",
               "tls.server.hash.sha1", "tls.certificate_chain"),
    ),
)

INGEST_WARNINGS = Table(
    "ingest_warnings",
    "One row per input problem met while ingesting: bad line, truncated file, unsupported log.",
    (
        Column("ts", TS, "when the ingest met it (UTC)", "event.ingested", "time"),
        Column("file", S, "source file (archive!member for zip members)", "log.file.path", "metadata.log_name"),
        Column("line", I64, "1-based line number, null when the problem is not a line", "log.offset", ""),
        Column("reason", S, "what was wrong, in words", "error.message", "status_detail"),
        Column("snippet", S, "the first 120 characters of the offending line", "event.original", "raw_data"),
        Column("source_format", S, "source that was parsing", "event.module", "metadata.log_provider"),
        Column("ingest_id", S, "ingest run", "", "metadata.uid"),
    ),
    provenance=(),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (NET_CONN, NET_OPEN_CONN, NET_DNS, NET_HTTP, NET_TLS, *ENDPOINT_TABLES, *WINDOWS_TABLES, IDS_ALERT,
              INGEST_WARNINGS)
}


def get_table(name: str) -> Table:
    """Return the declared table called ``name`` or raise a user error listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise WinnowError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None

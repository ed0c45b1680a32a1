"""Render numeric frames as Zeek 6 TSV columns: the field lists, types and value formatting.

Field lists and types are those of Zeek 6 with the JA3 package loaded (as in the real logs under
shared/data/rita-zeek-beacon). Formatting follows Zeek's ASCII writer: `time` and `interval` with six
decimals, `-` for unset values, `(empty)` for empty sets, `,` between set/vector elements, `T`/`F`
for booleans. Uids are "C" + 16-17 base62 characters, file ids "F" + the same.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.sim import catalog
from winnow.sim.network import World

_ADDR = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
]
FIELDS: dict[str, list[tuple[str, str]]] = {
    "conn": _ADDR
    + [
        ("proto", "enum"),
        ("service", "string"),
        ("duration", "interval"),
        ("orig_bytes", "count"),
        ("resp_bytes", "count"),
        ("conn_state", "string"),
        ("local_orig", "bool"),
        ("local_resp", "bool"),
        ("missed_bytes", "count"),
        ("history", "string"),
        ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"),
        ("resp_pkts", "count"),
        ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ],
    "dns": _ADDR
    + [
        ("proto", "enum"),
        ("trans_id", "count"),
        ("rtt", "interval"),
        ("query", "string"),
        ("qclass", "count"),
        ("qclass_name", "string"),
        ("qtype", "count"),
        ("qtype_name", "string"),
        ("rcode", "count"),
        ("rcode_name", "string"),
        ("AA", "bool"),
        ("TC", "bool"),
        ("RD", "bool"),
        ("RA", "bool"),
        ("Z", "count"),
        ("answers", "vector[string]"),
        ("TTLs", "vector[interval]"),
        ("rejected", "bool"),
    ],
    "http": _ADDR
    + [
        ("trans_depth", "count"),
        ("method", "string"),
        ("host", "string"),
        ("uri", "string"),
        ("referrer", "string"),
        ("version", "string"),
        ("user_agent", "string"),
        ("origin", "string"),
        ("request_body_len", "count"),
        ("response_body_len", "count"),
        ("status_code", "count"),
        ("status_msg", "string"),
        ("info_code", "count"),
        ("info_msg", "string"),
        ("tags", "set[enum]"),
        ("username", "string"),
        ("password", "string"),
        ("proxied", "set[string]"),
        ("orig_fuids", "vector[string]"),
        ("orig_filenames", "vector[string]"),
        ("orig_mime_types", "vector[string]"),
        ("resp_fuids", "vector[string]"),
        ("resp_filenames", "vector[string]"),
        ("resp_mime_types", "vector[string]"),
    ],
    "ssl": _ADDR
    + [
        ("version", "string"),
        ("cipher", "string"),
        ("curve", "string"),
        ("server_name", "string"),
        ("resumed", "bool"),
        ("last_alert", "string"),
        ("next_protocol", "string"),
        ("established", "bool"),
        ("ssl_history", "string"),
        ("cert_chain_fps", "vector[string]"),
        ("client_cert_chain_fps", "vector[string]"),
        ("sni_matches_cert", "bool"),
        ("validation_status", "string"),
        ("ja3", "string"),
        ("ja3s", "string"),
    ],
}

_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_BOOL = pa.array(["F", "T"])


def _strings(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string())


def _np(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.to_numpy(zero_copy_only=False)


def take(vocab: pa.Array, idx: np.ndarray, unset: str = "-") -> pa.Array:
    """`vocab[idx]`, with `unset` where idx < 0."""
    idx = np.asarray(idx)
    out = vocab.take(pa.array(np.maximum(idx, 0), mask=idx < 0))
    return pc.fill_null(out, unset) if (idx < 0).any() else out


def const(value: str, n: int) -> pa.Array:
    """A column repeating one string."""
    return pa.repeat(pa.scalar(value, pa.string()), n)  # type: ignore[attr-defined]


def count(values: np.ndarray) -> pa.Array:
    """Non-negative integers; -1 renders as `-`."""
    values = np.asarray(values, dtype=np.int64)
    out = pc.cast(pa.array(values, mask=values < 0), pa.string())
    return pc.fill_null(out, "-") if (values < 0).any() else out


def fixed6(us: np.ndarray) -> pa.Array:
    """Microseconds as seconds with six decimals; negative values render as `-`."""
    us = np.asarray(us, dtype=np.int64)
    unset = us < 0
    digits = pc.utf8_lpad(pc.cast(pa.array(np.maximum(us, 0)), pa.string()), 7, "0")
    out = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(digits, 0, -6), pc.utf8_slice_codeunits(digits, -6, 2**31 - 1), "."
    )
    return pc.if_else(pa.array(unset), pa.scalar("-"), out) if unset.any() else out


def zeek_ids(a: np.ndarray, b: np.ndarray, prefix: str) -> pa.Array:
    """Zeek-style ids ("C..." / "F...") of 16-17 base62 characters from two random 64-bit words."""
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    n = len(a)
    mat = np.empty((n, 18), dtype=np.uint8)
    mat[:, 0] = ord(prefix)
    x = a.copy()
    for col in range(17, 6, -1):
        mat[:, col] = _B62[(x % np.uint64(62)).astype(np.int64)]
        x //= np.uint64(62)
    y = b >> np.uint64(1)
    for col in range(6, 0, -1):
        mat[:, col] = _B62[(y % np.uint64(62)).astype(np.int64)]
        y //= np.uint64(62)
    short = (b & np.uint64(1)).astype(bool)
    keep = np.ones((n, 18), dtype=bool)
    keep[short, 1] = False
    length = 18 - short.astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(length, out=offsets[1:])
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat[keep]))
    )


class Formatter:
    """Turns numeric log tables into string tables; holds the world's string tables."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.states = _strings(list(catalog.STATES))
        self.histories = _strings(list(catalog.HISTORIES))
        self.services = _strings(list(catalog.SERVICES))
        self.protos = _strings(list(catalog.PROTOS))
        self.qtype_names = _strings([catalog.QTYPES.get(i, str(i)) for i in range(256)])
        self.rcode_names = _strings([catalog.RCODES.get(i, str(i)) for i in range(16)])
        self.methods = _strings(list(catalog.HTTP_METHODS))
        self.codes = np.array([s[0] for s in catalog.HTTP_STATUSES])
        self.status_msgs = _strings([s[1] for s in catalog.HTTP_STATUSES])
        self.mimes = _strings(list(catalog.MIME_TYPES))
        self.referrers = pc.binary_join_element_wise("http://", world.name_str, "/", "")
        profiles = list(zip(*catalog.TLS_PROFILES, strict=True))
        self.tls = [_strings(list(col)) for col in profiles[:7]]
        self.validation = _strings(list(catalog.VALIDATION))

    def format(self, log: str, table: pa.Table) -> pa.Table:
        """String table with the columns of `FIELDS[log]`, in order."""
        c = {
            name: _np(table[name])
            for name in table.column_names
            if table.schema.field(name).type != pa.string()
        }
        n = table.num_rows
        cols = [
            fixed6(c["ts"]),
            zeek_ids(c["uid_a"], c["uid_b"], "C"),
            take(self.w.ip_str, c["src"]),
            count(c["sport"]),
            take(self.w.ip_str, c["dst"]),
            count(c["dport"]),
        ]
        cols += getattr(self, "_" + log)(table, c, n)
        return pa.table(cols, names=[f for f, _ in FIELDS[log]])

    def _conn(self, table: pa.Table, c: dict, n: int) -> list[pa.Array]:
        local = self.w.is_local
        return [
            self.protos.take(pa.array(c["proto"])),
            self.services.take(pa.array(c["service"])),
            fixed6(c["duration"]),
            count(c["orig_bytes"]),
            count(c["resp_bytes"]),
            self.states.take(pa.array(c["state"])),
            _BOOL.take(pa.array(local[c["src"]].astype(np.int8))),
            _BOOL.take(pa.array(local[c["dst"]].astype(np.int8))),
            const("0", n),
            self.histories.take(pa.array(c["history"])),
            count(c["orig_pkts"]),
            count(c["orig_ip_bytes"]),
            count(c["resp_pkts"]),
            count(c["resp_ip_bytes"]),
            const("-", n),
        ]

    def _dns(self, table: pa.Table, c: dict, n: int) -> list[pa.Array]:
        query = take(self.w.name_str, c["query"])
        query = pc.coalesce(table["qstr"].combine_chunks(), query)
        answers = pc.coalesce(table["astr"].combine_chunks(), take(self.w.answer_str, c["answers"]))
        n_ans = c["n_ans"].astype(np.int64)
        ttl = pc.binary_join_element_wise(pc.cast(pa.array(c["ttl"]), pa.string()), ".000000", "")
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(n_ans, out=offsets[1:])
        lists = pa.ListArray.from_arrays(
            pa.array(offsets), ttl.take(pa.array(np.repeat(np.arange(n), n_ans)))
        )
        ttls = pc.if_else(pa.array(n_ans > 0), pc.binary_join(lists, ","), pa.scalar("-"))
        return [
            self.protos.take(pa.array(c["proto"])),
            count(c["trans_id"]),
            fixed6(c["rtt"]),
            query,
            const("1", n),
            const("C_INTERNET", n),
            count(c["qtype"]),
            self.qtype_names.take(pa.array(c["qtype"])),
            count(c["rcode"]),
            self.rcode_names.take(pa.array(c["rcode"])),
            const("F", n),
            const("F", n),
            const("T", n),
            const("T", n),
            const("0", n),
            answers,
            ttls,
            const("F", n),
        ]

    def _http(self, table: pa.Table, c: dict, n: int) -> list[pa.Array]:
        status = c["status"]
        body = c["resp_len"] > 0
        fuid = zeek_ids(c["fuid"], c["fuid"] ^ np.uint64(0x5DEECE66D), "F")
        return [
            count(c["trans_depth"]),
            self.methods.take(pa.array(c["method"])),
            take(self.w.name_str, c["host"]),
            self.w.uri_str.take(pa.array(c["uri"])),
            take(self.referrers, c["referrer"]),
            const("1.1", n),
            take(self.w.ua_str, c["ua"]),
            const("-", n),
            count(c["req_len"]),
            count(c["resp_len"]),
            count(self.codes[status]),
            self.status_msgs.take(pa.array(status)),
            const("-", n),
            const("-", n),
            const("(empty)", n),
            const("-", n),
            const("-", n),
            const("-", n),
            const("-", n),
            const("-", n),
            const("-", n),
            pc.if_else(pa.array(body), fuid, pa.scalar("-")),
            const("-", n),
            take(self.mimes, np.where(body, c["mime"], -1)),
        ]

    def _ssl(self, table: pa.Table, c: dict, n: int) -> list[pa.Array]:
        p = pa.array(c["profile"])
        version, cipher, curve, resumed, alpn, established, history = (col.take(p) for col in self.tls)
        cert = c["cert"]
        return [
            version,
            cipher,
            curve,
            take(self.w.name_str, c["sni"]),
            resumed,
            const("-", n),
            alpn,
            established,
            history,
            take(self.w.cert_str, cert),
            pc.if_else(pa.array(cert >= 0), pa.scalar("(empty)"), pa.scalar("-")),
            take(_BOOL, c["sni_match"]),
            take(self.validation, c["valid"]),
            self.w.ja3_str.take(pa.array(c["ja3"])),
            self.w.ja3s_str.take(pa.array(c["ja3s"])),
        ]

"""Columnar event frames: the numeric form of log rows between generation and writing.

A frame is a dict of equally long columns for one Zeek log. Columns are numpy arrays of small
integers (timestamps in microseconds, IP and name indexes into the world's string tables, codes into
`catalog` tables) so that generation, sorting and spilling to disk stay cheap; text is produced only
by `zeek_format`. A few columns may hold Arrow string arrays instead (`qstr`, `astr`: per-row DNS
query and answer text that no table holds, such as tunnelled data). `-1` means unset (`-`).

Application rows (dns/http/ssl) are derived from conn rows with `derive`, which copies the uid and
5-tuple so every application row points at a real connection.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

Frame = dict[str, Any]

_ADDR = {"ts": "i8", "uid_a": "u8", "uid_b": "u8", "src": "i4", "sport": "i4", "dst": "i4", "dport": "i4"}

#: Column dtypes and defaults per log; "str" marks an Arrow string column (default null).
SCHEMAS: dict[str, dict[str, tuple[str, int]]] = {
    "conn": {
        **{k: (t, 0) for k, t in _ADDR.items()},
        "proto": ("i1", 0),
        "service": ("i2", 0),
        "duration": ("i8", -1),
        "orig_bytes": ("i8", -1),
        "resp_bytes": ("i8", -1),
        "state": ("i1", 0),
        "history": ("i2", 0),
        "orig_pkts": ("i8", 0),
        "orig_ip_bytes": ("i8", 0),
        "resp_pkts": ("i8", 0),
        "resp_ip_bytes": ("i8", 0),
        "name": ("i4", -1),
    },
    "dns": {
        **{k: (t, 0) for k, t in _ADDR.items()},
        "proto": ("i1", 1),
        "trans_id": ("i4", 0),
        "rtt": ("i8", -1),
        "query": ("i4", -1),
        "qstr": ("str", 0),
        "qtype": ("i2", 1),
        "rcode": ("i1", 0),
        "answers": ("i4", -1),
        "astr": ("str", 0),
        "n_ans": ("i2", 0),
        "ttl": ("i4", 0),
    },
    "http": {
        **{k: (t, 0) for k, t in _ADDR.items()},
        "trans_depth": ("i2", 1),
        "method": ("i1", 0),
        "host": ("i4", -1),
        "uri": ("i4", 0),
        "referrer": ("i4", -1),
        "ua": ("i2", -1),
        "req_len": ("i8", 0),
        "resp_len": ("i8", 0),
        "status": ("i2", 0),
        "mime": ("i2", -1),
        "fuid": ("u8", 0),
    },
    "ssl": {
        **{k: (t, 0) for k, t in _ADDR.items()},
        "profile": ("i2", 0),
        "sni": ("i4", -1),
        "cert": ("i4", -1),
        "valid": ("i1", -1),
        "sni_match": ("i1", -1),
        "ja3": ("i2", 0),
        "ja3s": ("i2", 0),
    },
}
LOGS = tuple(SCHEMAS)
#: Columns kept only during generation, never spilled or written.
TRANSIENT = {"conn": ("name",)}


def new(log: str, n: int, **cols: Any) -> Frame:
    """Make a frame of `n` rows; columns not given take their schema default."""
    frame: Frame = {}
    for col, (dtype, default) in SCHEMAS[log].items():
        if col in cols:
            val = cols.pop(col)
            if dtype == "str":
                frame[col] = val if isinstance(val, pa.Array) else pa.array(val, pa.string())
            else:
                frame[col] = np.broadcast_to(np.asarray(val, dtype=dtype), (n,)).copy()
        elif dtype == "str":
            frame[col] = pa.nulls(n, pa.string())
        else:
            frame[col] = np.full(n, default, dtype=dtype)
        if len(frame[col]) != n:
            raise ValueError(f"{log}.{col} has {len(frame[col])} rows, expected {n}")
    if cols:
        raise KeyError(f"unknown {log} columns: {sorted(cols)}")
    return frame


def size(frame: Frame) -> int:
    """Number of rows of a frame."""
    return len(frame["ts"])


def concat(log: str, frames: list[Frame]) -> Frame:
    """Concatenate frames of one log (an empty list gives an empty frame)."""
    frames = [f for f in frames if size(f)]
    if not frames:
        return new(log, 0)
    out: Frame = {}
    for col, (dtype, _) in SCHEMAS[log].items():
        parts = [f[col] for f in frames]
        out[col] = pa.concat_arrays(parts) if dtype == "str" else np.concatenate(parts)
    return out


def derive(log: str, conn: Frame, idx: np.ndarray, delay_us: np.ndarray | int = 0, **cols: Any) -> Frame:
    """Application rows for conn rows `idx`: same uid and 5-tuple, `ts` = conn ts + `delay_us`."""
    idx = np.asarray(idx, dtype=np.int64)
    shared = {k: conn[k][idx] for k in ("uid_a", "uid_b", "src", "sport", "dst", "dport")}
    if log == "dns":
        shared["proto"] = conn["proto"][idx]
    return new(log, len(idx), ts=conn["ts"][idx] + delay_us, **shared, **cols)


def uids(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two random 64-bit words per row; `zeek_format` renders them as a Zeek uid."""
    words = rng.integers(0, np.iinfo(np.uint64).max, size=(2, n), dtype=np.uint64, endpoint=True)
    return words[0], words[1]


def to_table(log: str, frame: Frame) -> pa.Table:
    """Arrow table of a frame without its transient columns."""
    drop = TRANSIENT.get(log, ())
    cols = {k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in frame.items() if k not in drop}
    return pa.table(cols)


class Traffic:
    """Frames per log produced by one generator, plus counters for the truth file."""

    def __init__(self) -> None:
        self.frames: dict[str, list[Frame]] = {log: [] for log in LOGS}
        self.counts: dict[str, int] = {}

    def add(self, log: str, frame: Frame) -> None:
        """Append a frame to a log."""
        if size(frame):
            self.frames[log].append(frame)

    def extend(self, other: Traffic) -> None:
        """Append every frame and counter of another `Traffic`."""
        for log in LOGS:
            self.frames[log].extend(other.frames[log])
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n

    def count(self, key: str, n: int) -> None:
        """Add `n` to a named counter."""
        self.counts[key] = self.counts.get(key, 0) + int(n)

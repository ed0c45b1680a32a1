"""Per-connection processes and the reverse: per-process bytes and destinations ("which process uploaded 2 GB")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from winnow.engine import Engine, Window, fetch
from winnow.errors import WinnowError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa


def connection_processes(engine: Engine, window: Window | None = None, host: str | None = None,
                         include_unmatched: bool = False) -> ir.Table:
    """``net.conn_proc`` as an Ibis table (filter and aggregate it further, then ``.to_pyarrow()``)."""
    table = engine.table("net.conn_proc", window)
    if table is None:
        raise WinnowError("no net.conn_proc in the lake: ingest endpoint logs (Sysmon, auditd) next to "
                          "network logs, or run 'winnow attribute'")
    if host is not None:
        table = table.filter(table.host == host)
    if not include_unmatched:
        table = table.filter(table.match != "unmatched")
    return table


def process_traffic(engine: Engine, window: Window | None = None, host: str | None = None,
                    limit: int | None = 100) -> pa.Table:
    """Per process: connections, bytes it sent and received, distinct remote addresses and the busiest one.

    Bytes are from the network sensor, seen from the process: for connections it made, what the
    originator sent is ``bytes_out``; for connections it accepted, what the responder sent.
    Ambiguous matches are left out; sorted by ``bytes_out``.
    """
    t = connection_processes(engine, window, host)
    t = t.filter(t.match != "ambiguous")
    made = t.side == "src"
    t = t.mutate(
        bytes_out=(made.ifelse(t.src_bytes, t.dst_bytes)).fill_null(0),
        bytes_in=(made.ifelse(t.dst_bytes, t.src_bytes)).fill_null(0),
        remote=made.ifelse(t.dst_ip, t.src_ip),
    )
    keys = ["host", "process_guid"]  # process_guid is never null here: the join falls back to host:pid
    per = t.group_by(keys).aggregate(
        image=t.image.max(), pid=t.pid.max(), user=t.user.max(), connections=t.count(),
        bytes_out=t.bytes_out.sum(), bytes_in=t.bytes_in.sum(),
        destinations=t.remote.nunique(), first_seen=t.ts.min(), last_seen=t.ts.max(),
        command_line=t.command_line.max(),
    )
    by_remote = t.group_by([*keys, "remote"]).aggregate(remote_out=t.bytes_out.sum())
    import ibis

    top = by_remote.mutate(rank=ibis.row_number().over(group_by=keys, order_by=[ibis.desc("remote_out"), "remote"]))
    top = top.filter(top["rank"] == 0).select(*keys, top_destination="remote", top_destination_bytes="remote_out")
    out = per.left_join(top, keys).select(*[per[c] for c in per.columns], "top_destination", "top_destination_bytes")
    out = out.order_by([ibis.desc("bytes_out"), "host", "process_guid"])
    if limit is not None:
        out = out.limit(limit)
    return fetch(out)

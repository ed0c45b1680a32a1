"""Who really opened a connection: responder-side Zeek records turned round, once for every detector.

Zeek names the first end it sees the originator. When it misses the handshake (capture started
mid-connection, asymmetric routing, a lost SYN) that can be the server, and the record then reads
as the server calling the client: a remote relay that internal hosts keep connecting to becomes a
"scan" of their ephemeral ports. A record is *uncertain* when its ``history`` does not witness the
originator's opening: Zeek flipped it (``^``, its own port guess), the responder's letter (lower
case) comes first, or a TCP history does not start with the originator's SYN (``S``). An uncertain
record is turned round (addresses, ports, bytes, packets, flags and the case of the history
letters swapped; ``flipped`` true) when, in this order:

1. the handshake says so: the originator sent the SYN-ACK (``H``) and the responder did not (``h``)
   (``h`` or ``S`` present and no ``H``: kept as written);
2. the ports say so: a service port talking to a client port (below 1024 to 1024 and up, or below
   32768 to the ephemeral range 32768 and up) is the server's side;
3. neither port looks like a service, and both ends sent something (upper- and lower-case letters):
   the internal end opened it (``_networks.is_internal`` with the sensor's believed
   ``local_orig``/``local_resp``, else ``networks.internal``) when the written originator is outside
   and the responder inside. A one-sided record (a stray reset, backscatter) is kept as written.

Records whose history shows the originator's SYN first, and flow records without a history
(NetFlow, Argus), are kept as written. ``conn_state`` is kept as written; a record turned round
was written from the responder's side, so the responder was there: :func:`._outcome.answered`
counts it answered (a missed handshake is no failed attempt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from winnow.detections._networks import LocalFlags, is_internal, local_flags

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: columns swapped pairwise when a record is turned round
PAIRS = (("src_ip", "dst_ip"), ("src_port", "dst_port"), ("src_bytes", "dst_bytes"), ("src_pkts", "dst_pkts"),
         ("src_ip_bytes", "dst_ip_bytes"), ("local_orig", "local_resp"))
_LOWER = "abcdefghijklmnopqrstuvwxyz"
#: the first port of the ephemeral (client) range
EPHEMERAL = 32768


def _server_to_client(a: ir.IntegerValue, b: ir.IntegerValue) -> ir.BooleanValue:
    """Port ``a`` looks like a service and ``b`` like its client."""
    return ((a < 1024) & (b >= 1024)) | ((a < EPHEMERAL) & (b >= EPHEMERAL))


def turned(conn: ir.Table) -> ir.BooleanValue:
    """Ibis expression: the record was written from the responder's side (see the module docstring).

    ``conn`` must carry believed flags (:meth:`LocalFlags.apply`); never null.
    """
    import ibis

    history = conn.history.fill_null("")
    plain = history.replace("^", "")
    first = plain.substr(0, 1)
    uncertain = (
        history.contains("^")
        | ((first != "") & first.isin(list(_LOWER)))
        | ((conn.proto == "tcp") & (first != "S"))
    )
    orig_synack = plain.contains("H") & ~plain.contains("h")
    resp_server = plain.contains("h") | plain.contains("S")
    ports_turned = _server_to_client(conn.src_port, conn.dst_port).fill_null(False)
    ports_kept = _server_to_client(conn.dst_port, conn.src_port).fill_null(False)
    two_way = plain.re_search("[A-Z]") & plain.re_search("[a-z]")
    inward = two_way & ~is_internal(conn.src_ip, conn.local_orig) & is_internal(conn.dst_ip, conn.local_resp)
    decision = ibis.cases(
        (orig_synack, True),
        (resp_server, False),
        (ports_turned, True),
        (ports_kept, False),
        else_=inward,
    )
    # CASE keeps the address tests off the (many) records that are certain
    return ibis.cases((conn.history.notnull() & uncertain, decision), else_=False)


def oriented(conn: ir.Table, flags: LocalFlags | None = None) -> ir.Table:
    """``conn`` (``net.conn`` or ``net.open_conn``) with believed flags, each record from its initiator's side.

    ``flags`` are measured on ``conn`` when not given (one small query). Adds ``flipped`` (boolean).
    """
    import ibis

    flags = flags if flags is not None else local_flags(conn)
    t = flags.apply(conn)
    t = t.mutate(flipped=turned(t))
    swap = {}
    for a, b in PAIRS:
        swap[a] = ibis.ifelse(t.flipped, t[b], t[a])
        swap[b] = ibis.ifelse(t.flipped, t[a], t[b])
    upper = _LOWER.upper()
    swap["history"] = ibis.ifelse(t.flipped, t.history.translate(_LOWER + upper, upper + _LOWER), t.history)
    return t.mutate(**swap)

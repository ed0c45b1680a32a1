"""Long-lived sessions Zeek sees mid-stream: responder-side and flipped conn records.

Zeek expires an idle TCP connection after 5 minutes (`tcp_inactivity_timeout`); when the session
carries on, the first packet it sees starts a new record. If that packet comes from the server:

    * responder_side: the server's port is not in Zeek's `likely_server_ports` (a remote-support
      relay on tcp/5938): the record's originator is the relay (`id.orig_h` remote, `id.orig_p`
      5938, `id.resp_p` the client's ephemeral port), conn_state OTH, history starting with the
      data/ACK letters of whoever spoke first ("DdA", "Ad", ...), `local_orig` F, `local_resp` T.
    * flipped: the server's port is a likely server port (a push service on tcp/443), so Zeek flips
      the roles and marks it with `^` (Zeek docs, "Connection Handling: Flipping Connections"): the
      originator is the client again, history "^dA", "^dADa" or "^dAa", OTH.

Each client holds 4-15 sessions a day while its user works (10-90 min, each with its own ephemeral
port); a session opens with an ordinary handshake (S1), then shows as one mid-stream record per
idle gap (Poisson, one per 15 min of session on average), each starting 5 min + Exp(10 min)
after the previous record ended.
truth.json lists both under `zeek_sides` (benign: the real client is internal, the server remote).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winnow.sim import arrays, catalog, frames
from winnow.sim.catalog import OTH, S1, TCP
from winnow.sim.context import HOUR, SIDES, US, DayChunk
from winnow.sim.frames import Frame, Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World


def _choices(hs: tuple[tuple[str, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([catalog.HISTORY_CODE[h] for h, _ in hs]), np.array([w for _, w in hs]) / sum(w for _, w in hs)


_RESP_SIDE = _choices(catalog.RESPONDER_SIDE_HISTORIES)
_FLIPPED = _choices(catalog.FLIPPED_HISTORIES)
_OPEN = catalog.HISTORY_CODE["ShADad"]
_HAS_ORIG_DATA = np.array(["D" in h for h in catalog.HISTORIES])
_HAS_RESP_DATA = np.array(["d" in h for h in catalog.HISTORIES])


@dataclass
class Side:
    """One remote server that internal hosts hold long sessions with."""

    kind: str
    server: int
    port: int
    clients: np.ndarray
    truth: dict


def plan_sides(world: World, rng: np.random.Generator, space: AddressSpace) -> list[Side]:
    """A remote relay (responder-side records) and a push service (flipped records) with their clients."""
    ws = np.flatnonzero(~world.hosts.server)
    out = []
    for kind, port, share in (("responder_side", 5938, 0.03), ("flipped", 443, 0.08)):
        k = int(np.clip(round(share * len(ws)), 1, 40))
        clients = np.sort(rng.choice(ws, min(k, len(ws)), replace=False))
        server = space.fresh()
        out.append(Side(kind, server, port, clients, {
            "kind": kind,
            "server": world.ips[server],
            "server_port": port,
            "clients": [world.ips[int(world.hosts.ip[c])] for c in clients],
            "real_originator": "client",
            "zeek_originator": "server" if kind == "responder_side" else "client (flipped, ^)",
        }))
    return out


def sides(ctx: DayChunk) -> Traffic:
    """Every session of this unit's clients, as Zeek records them."""
    out = Traffic()
    rng = ctx.rng(SIDES)
    for s in ctx.world.extra["zeek_sides"]:
        local = np.flatnonzero(np.isin(ctx.hosts, s.clients) & ctx.present)
        if len(local):
            frame = _sessions(ctx, rng, s, local)
            out.add("conn", frame)
            out.count(f"zeek_side:{s.kind}", frames.size(frame))
    return out


def _sessions(ctx: DayChunk, rng: np.random.Generator, s: Side, local: np.ndarray) -> Frame:
    n_sess = rng.integers(4, 16, len(local))
    host = np.repeat(local, n_sess)
    a, b = ctx.pres_start[host], ctx.pres_end[host]
    start = a + (rng.random(len(host)) * (b - a)).astype(np.int64)
    length = (rng.uniform(10, 90, len(host)) * 60 * US).astype(np.int64)
    n_rec = 1 + rng.poisson(length / (15 * 60 * US))  # the opening record, then one per idle gap
    sess = np.repeat(np.arange(len(host)), n_rec)
    first = arrays.position_in_group(n_rec) == 0
    n = len(sess)
    duration = rng.integers(5, 4 * 60, n) * US
    # a record starts after the previous one ended and Zeek's 5-minute inactivity timeout expired
    step = np.where(first, 0, 300 * US + rng.exponential(600 * US, n).astype(np.int64))
    prev = np.concatenate([[0], duration[:-1]]) * ~first
    ts = np.minimum(start[sess] + arrays.group_cumsum(step + prev, n_rec), ctx.day0 + 24 * HOUR - 1)
    client = ctx.ip[host][sess]
    eph = rng.integers(49152, 65536, len(host))[sess]
    values, p = _RESP_SIDE if s.kind == "responder_side" else _FLIPPED
    hist = np.where(first, _OPEN, rng.choice(values, n, p=p))
    swap = ~first & (s.kind == "responder_side")
    server_bytes = rng.lognormal(np.log(1800), 1.2, n).astype(np.int64)
    client_bytes = rng.lognormal(np.log(600), 1.0, n).astype(np.int64)
    orig_b = np.where(swap, server_bytes, client_bytes) * (_HAS_ORIG_DATA[hist] | first)
    resp_b = np.where(swap, client_bytes, server_bytes) * (_HAS_RESP_DATA[hist] | first)
    orig_pkts = 2 + orig_b // 1000
    resp_pkts = 2 + resp_b // 1000
    uid_a, uid_b = frames.uids(rng, n)
    return frames.new(
        "conn", n, ts=ts, uid_a=uid_a, uid_b=uid_b,
        src=np.where(swap, s.server, client), sport=np.where(swap, s.port, eph),
        dst=np.where(swap, client, s.server), dport=np.where(swap, eph, s.port),
        proto=TCP, service=0,
        duration=duration, orig_bytes=orig_b, resp_bytes=resp_b,
        state=np.where(first, S1, OTH), history=hist,
        orig_pkts=orig_pkts, orig_ip_bytes=orig_b + 40 * orig_pkts, resp_pkts=resp_pkts,
        resp_ip_bytes=resp_b + 40 * resp_pkts,
    )

"""Connection rows with consistent TCP/UDP bookkeeping: state, history, bytes, packets, IP bytes.

Callers say what a connection carried (payload bytes each way, duration) and how likely it is to fail;
this module picks a conn_state, a history string real Zeek logs show for that state, and the packet
and IP byte counts that go with it:

    SF/RSTO/RSTR/S1  payload as given (RSTO/RSTR cut short), packets = handshake + ceil(bytes/1400)
                     data segments (+ ACKs from the originator), IP bytes = payload + 40 per packet
                     (+ 12 for SYN options)
    S0               one SYN (duration and byte counts unset, as Zeek logs it) or 2-3 retransmitted
                     SYNs (duration ~1 s or ~3 s, zero bytes)
    REJ              SYN answered by RST within a few ms, zero bytes
    UDP              one datagram each way ("Dd", SF) or only the request ("D", S0)
"""

from __future__ import annotations

import numpy as np

from winnow.sim import catalog, frames
from winnow.sim.catalog import REJ, RSTO, RSTR, S0, S1, SF, TCP, UDP
from winnow.sim.frames import Frame

#: Failure mix of ordinary client connections: probability of each non-SF state.
CLIENT_FAILURES = {S0: 0.012, REJ: 0.004, RSTO: 0.012, RSTR: 0.018, S1: 0.004}
US = 1_000_000

_HIST_CHOICES = {
    state: (
        np.array([catalog.HISTORY_CODE[h] for h, _ in hs], dtype=np.int16),
        np.cumsum([w for _, w in hs]) / sum(w for _, w in hs),
    )
    for state, hs in catalog.TCP_HISTORIES.items()
}


def ephemeral_ports(rng: np.random.Generator, n: int) -> np.ndarray:
    """Client source ports in the Windows dynamic range."""
    return rng.integers(49152, 65536, n).astype(np.int32)


def draw_states(rng: np.random.Generator, n: int, failures: dict[int, float] | None) -> np.ndarray:
    """conn_state codes: SF unless one of the failure states is drawn."""
    state = np.full(n, SF, dtype=np.int8)
    if failures:
        u = rng.random(n)
        edge = 0.0
        for code, p in failures.items():
            state[(u >= edge) & (u < edge + p)] = code
            edge += p
    return state


def histories(rng: np.random.Generator, state: np.ndarray) -> np.ndarray:
    """A real-looking history string code for each TCP conn_state."""
    out = np.zeros(len(state), dtype=np.int16)
    u = rng.random(len(state))
    for code, (values, cdf) in _HIST_CHOICES.items():
        mask = state == code
        if mask.any():
            out[mask] = values[np.minimum(np.searchsorted(cdf, u[mask], side="right"), len(values) - 1)]
    return out


def tcp(
    rng: np.random.Generator,
    *,
    ts: np.ndarray,
    src: np.ndarray | int,
    dst: np.ndarray | int,
    dport: np.ndarray | int,
    orig_bytes: np.ndarray,
    resp_bytes: np.ndarray,
    duration: np.ndarray,
    service: np.ndarray | int,
    failures: dict[int, float] | None = None,
    state: np.ndarray | None = None,
    name: np.ndarray | int = -1,
) -> Frame:
    """TCP conn rows; `duration` in microseconds; failed states override bytes, duration, service."""
    n = len(ts)
    state = draw_states(rng, n, failures) if state is None else np.asarray(state, dtype=np.int8)
    orig = np.asarray(orig_bytes, dtype=np.int64).copy()
    resp = np.asarray(resp_bytes, dtype=np.int64).copy()
    dur = np.asarray(duration, dtype=np.int64).copy()
    cut = (state == RSTO) | (state == RSTR)
    resp[cut] = (resp[cut] * rng.uniform(0.05, 1.0, int(cut.sum()))).astype(np.int64)
    resp_pkts = 2 + -(-resp // 1400)
    orig_pkts = 3 + -(-orig // 1400) + resp_pkts // 2
    svc = np.broadcast_to(np.asarray(service, dtype=np.int16), (n,)).copy()

    s0 = state == S0
    retrans = s0 & (rng.random(n) < 0.4)
    single = s0 & ~retrans
    orig_pkts[s0] = 1
    orig_pkts[retrans] = rng.integers(2, 4, int(retrans.sum()))
    dur[retrans] = np.where(orig_pkts[retrans] == 2, US, 3 * US) + rng.integers(0, 20_000, int(retrans.sum()))
    dur[single] = -1
    orig[single] = -1
    resp[single] = -1
    orig[retrans] = 0
    resp[retrans] = 0
    resp_pkts[s0] = 0

    rej = state == REJ
    orig_pkts[rej] = 1
    resp_pkts[rej] = 1
    orig[rej] = 0
    resp[rej] = 0
    dur[rej] = rng.integers(80, 40_000, int(rej.sum()))
    svc[s0 | rej] = 0

    orig_ip = np.where(s0 | rej, 52 * orig_pkts, np.maximum(orig, 0) + 40 * orig_pkts + 12)
    resp_ip = np.where(resp_pkts > 0, np.maximum(resp, 0) + 40 * resp_pkts + np.where(rej, 0, 12), 0)
    uid_a, uid_b = frames.uids(rng, n)
    return frames.new(
        "conn",
        n,
        ts=ts,
        uid_a=uid_a,
        uid_b=uid_b,
        src=src,
        sport=ephemeral_ports(rng, n),
        dst=dst,
        dport=dport,
        proto=TCP,
        service=svc,
        duration=dur,
        orig_bytes=orig,
        resp_bytes=resp,
        state=state,
        history=histories(rng, state),
        orig_pkts=orig_pkts,
        orig_ip_bytes=orig_ip,
        resp_pkts=resp_pkts,
        resp_ip_bytes=resp_ip,
        name=name,
    )


def udp(
    rng: np.random.Generator,
    *,
    ts: np.ndarray,
    src: np.ndarray | int,
    dst: np.ndarray | int,
    dport: np.ndarray | int,
    orig_bytes: np.ndarray | int,
    resp_bytes: np.ndarray | int,
    duration: np.ndarray,
    service: np.ndarray | int,
    replied: np.ndarray | None = None,
    sport: np.ndarray | int | None = None,
    name: np.ndarray | int = -1,
) -> Frame:
    """UDP request/response conn rows (one datagram each way; `replied=False` rows get no answer)."""
    n = len(ts)
    ok = np.ones(n, dtype=bool) if replied is None else np.asarray(replied, dtype=bool)
    orig = np.broadcast_to(np.asarray(orig_bytes, dtype=np.int64), (n,))
    resp = np.where(ok, np.asarray(resp_bytes, dtype=np.int64), 0)
    dur = np.where(ok, np.asarray(duration, dtype=np.int64), -1)
    hist = np.where(
        ok,
        catalog.HISTORY_CODE[catalog.UDP_HISTORY_REPLIED],
        catalog.HISTORY_CODE[catalog.UDP_HISTORY_ONEWAY],
    )
    uid_a, uid_b = frames.uids(rng, n)
    return frames.new(
        "conn",
        n,
        ts=ts,
        uid_a=uid_a,
        uid_b=uid_b,
        src=src,
        sport=ephemeral_ports(rng, n) if sport is None else sport,
        dst=dst,
        dport=dport,
        proto=UDP,
        service=np.where(ok, np.asarray(service, dtype=np.int16), 0),
        duration=dur,
        orig_bytes=np.where(ok, orig, -1),
        resp_bytes=np.where(ok, resp, -1),
        state=np.where(ok, SF, S0),
        history=hist,
        orig_pkts=1,
        orig_ip_bytes=orig + 28,
        resp_pkts=ok.astype(np.int64),
        resp_ip_bytes=np.where(ok, resp + 28, 0),
        name=name,
    )


def established(conn: Frame) -> np.ndarray:
    """Mask of conn rows whose handshake completed and that carried payload."""
    state = conn["state"]
    return ((state == SF) | (state == RSTO) | (state == RSTR) | (state == S1)) & (conn["orig_bytes"] > 0)

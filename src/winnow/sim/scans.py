"""Planted scanners and fumblers: hosts whose connections mostly fail.

* Horizontal scan: one host probes one port (445, 3389, 22 or 5985) on every address of one or
  more internal /24s within minutes. Empty addresses stay silent (S0, some SYNs retransmitted);
  live workstations drop (S0, 60 %), reject (REJ, 30 %) or answer and get reset (RSTO "ShR",
  10 %).
* Vertical scan: one host probes ports 1-1024 plus ~100 common high ports of one server within
  minutes: closed ports reject (REJ), a few are filtered (S0), open ones answer (RSTO "ShR").
* Slow scan (>= 200 hosts): port 22 on 300 internal addresses spread over the whole day.
* Fumbler: a host keeps retrying a dead C2 address every few minutes (jitter 40 %) all day:
  S0 (70 %, some with retransmitted SYNs) or REJ, never any payload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winnow.sim import catalog, transport
from winnow.sim.context import HOUR, US, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import SERVERS, World

COMMON_HIGH = (
    1433,
    1521,
    2049,
    2375,
    3306,
    3389,
    5000,
    5432,
    5900,
    5985,
    5986,
    6379,
    8000,
    8080,
    8443,
    8888,
    9000,
    9090,
    9200,
    9389,
    10000,
    27017,
    49152,
    49664,
    49665,
    49666,
    49667,
    49668,
)
OPEN_PORTS = {
    "dc01": (53, 88, 135, 139, 389, 445, 464, 636, 3268, 3389, 5985, 9389),
    "fs01": (135, 139, 445, 3389, 5985),
}


@dataclass
class Scan:
    """A planned scan or fumble; `truth` is what truth.json reports."""

    kind: str
    host: int
    day: int
    start_us: int
    dst: int
    dport: int
    targets: np.ndarray
    rate_s: float
    truth: dict
    open_ports: tuple[int, ...] = ()


def plan_scans(world: World, rng: np.random.Generator, space: AddressSpace, hosts: list[int]) -> list[Scan]:
    """A horizontal and a vertical scan, a slow scan at >= 200 hosts, then fumblers on the rest."""
    out = []
    n_blocks = max(1, (world.n_internal - len(SERVERS)) // 254)
    for i, host in enumerate(hosts):
        day = int(rng.integers(world.days))
        start = int(rng.uniform(9.5, 16.0) * HOUR)
        src = world.ips[int(world.hosts.ip[host])]
        if i == 0:
            port = int(rng.choice([445, 3389, 22, 5985]))
            blocks = np.sort(
                rng.choice(n_blocks, min(n_blocks, 1 + world.n_workstations // 2000), replace=False)
            )
            targets = np.concatenate([len(SERVERS) + 254 * b + np.arange(254) for b in blocks])
            targets = targets[targets != world.hosts.ip[host]]
            truth = {"src": src, "kind": "horizontal", "dport": port, "targets": len(targets), "rate": "fast"}
            scan = Scan(
                "horizontal",
                host,
                day,
                start,
                dst=-1,
                dport=port,
                targets=targets,
                rate_s=float(rng.uniform(0.05, 0.4)),
                truth=truth,
            )
        elif i == 1:
            role = str(rng.choice(["dc01", "fs01"]))
            ports = rng.permutation(np.unique(np.concatenate([np.arange(1, 1025), COMMON_HIGH])))
            dst = world.server_ip[role]
            truth = {
                "src": src,
                "kind": "vertical",
                "dst": world.ips[dst],
                "ports": len(ports),
                "target_role": role,
            }
            scan = Scan(
                "vertical",
                host,
                day,
                start,
                dst=dst,
                dport=-1,
                targets=ports,
                rate_s=float(rng.uniform(0.1, 0.5)),
                truth=truth,
                open_ports=OPEN_PORTS[role],
            )
        elif i == 2 and world.n_workstations >= 200:
            pool = np.arange(len(SERVERS), world.n_internal)
            targets = rng.choice(pool, min(300, len(pool)), replace=False)
            truth = {"src": src, "kind": "horizontal", "dport": 22, "targets": len(targets), "rate": "slow"}
            scan = Scan("slow", host, day, 0, dst=-1, dport=22, targets=targets, rate_s=0.0, truth=truth)
        else:
            dst = space.fresh()
            port = int(rng.choice([443, 8080, 4444]))
            period = int(rng.choice([120, 180, 300]))
            world.hosts.always_on[host] = True
            truth = {
                "src": src,
                "dst": world.ips[dst],
                "dport": port,
                "period": period,
                "kind": "dead_c2_retry",
            }
            scan = Scan(
                "fumble",
                host,
                -1,
                int(rng.integers(0, period * US)),
                dst=dst,
                dport=port,
                targets=np.zeros(0, dtype=np.int64),
                rate_s=float(period),
                truth=truth,
            )
        out.append(scan)
    return out


def _live(world: World, ips: np.ndarray) -> np.ndarray:
    host = np.full(len(ips), -1)
    internal = ips < world.n_internal
    host[internal] = world.host_of_ip[ips[internal]]
    return host >= 0


def scan_traffic(ctx: DayChunk, rng: np.random.Generator, s: Scan) -> Traffic:
    """Probes of one scan (or a fumbler's retries) on this unit's day."""
    w = ctx.world
    src = int(w.hosts.ip[s.host])
    out = Traffic()
    if s.kind == "fumble":
        p = int(s.rate_s * US)
        k = np.arange(-((s.start_us - ctx.day0) // p), -((s.start_us - ctx.day0 - 24 * HOUR) // p))
        ts = s.start_us + k * p + (rng.uniform(-0.4, 0.4, len(k)) * p).astype(np.int64)
        ts = np.sort(ts[(ts >= ctx.day0) & (ts < ctx.day0 + 24 * HOUR)])
        state = np.where(rng.random(len(ts)) < 0.7, catalog.S0, catalog.REJ)
        conn = _probes(rng, ts, src, s.dst, s.dport, state)
        out.add("conn", conn)
        out.count(f"fumble:{s.host}", len(ts))
        return out
    if ctx.day != s.day:
        return out
    if s.kind == "vertical":
        dst, dport = np.full(len(s.targets), s.dst), s.targets
        open_ = np.isin(dport, s.open_ports)
        state = np.where(
            open_, catalog.RSTO, np.where(rng.random(len(dport)) < 0.05, catalog.S0, catalog.REJ)
        )
    else:
        dst, dport = s.targets, np.full(len(s.targets), s.dport)
        live = _live(w, dst)
        u = rng.random(len(dst))
        state = np.where(
            live, np.where(u < 0.6, catalog.S0, np.where(u < 0.9, catalog.REJ, catalog.RSTO)), catalog.S0
        )
    if s.kind == "slow":
        ts = ctx.day0 + np.sort(rng.integers(0, 24 * HOUR, len(dst)))
    else:
        ts = ctx.day0 + s.start_us + np.cumsum(rng.exponential(s.rate_s * US, len(dst))).astype(np.int64)
    out.add("conn", _probes(rng, ts, src, dst, dport, state))
    out.count(f"scan:{s.host}", len(ts))
    return out


def _probes(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: int,
    dst: np.ndarray | int,
    dport: np.ndarray | int,
    state: np.ndarray,
) -> dict:
    """SYN probes: failed states via `transport.tcp`; answered ones become "ShR" RSTO rows."""
    n = len(ts)
    zero = np.zeros(n, dtype=np.int64)
    conn = transport.tcp(
        rng,
        ts=ts,
        src=src,
        dst=dst,
        dport=dport,
        orig_bytes=zero,
        resp_bytes=zero,
        duration=rng.integers(100, 30_000, n),
        service=0,
        state=state,
    )
    opened = state == catalog.RSTO
    conn["history"][opened] = catalog.HISTORY_CODE[catalog.SCAN_OPEN_HISTORY]
    conn["orig_pkts"][opened], conn["resp_pkts"][opened] = 2, 1
    conn["orig_ip_bytes"][opened], conn["resp_ip_bytes"][opened] = 92, 44
    return conn

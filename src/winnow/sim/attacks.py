"""Planting: which hosts carry which planted behaviour, the truth file, and their traffic.

Every planted item (beacons, scanners, fumblers, a DNS tunnel, a large upload, and the rare benign
periodic agents) gets its own workstation, drawn without replacement (with replacement only in
networks too small to hold them all). Counts scale with the network: 8 beacons plus one per 100
workstations (at most 16), one fumbler plus one more from 1,000 workstations, a slow scan from 200.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from winnow.sim import beacons, exfil, periodic, scans
from winnow.sim.context import ATTACKS, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World


def n_beacons(n_workstations: int) -> int:
    """Number of planted beacons for a network size."""
    return min(16, 8 + n_workstations // 100)


def plan_attacks(world: World, rng: np.random.Generator, space: AddressSpace) -> dict:
    """Choose hosts and parameters of everything planted; returns the truth lists."""
    n = world.n_workstations
    ws = np.flatnonzero(~world.hosts.server)
    n_b = n_beacons(n)
    n_scan = 2 + (n >= 200) + 1 + (n >= 1000)
    n_rare = 1 + (n >= 1000)
    need = n_b + n_scan + 2 + n_rare
    chosen = [int(x) for x in rng.choice(ws, need, replace=need > len(ws))]
    b_hosts, chosen = chosen[:n_b], chosen[n_b:]
    s_hosts, chosen = chosen[:n_scan], chosen[n_scan:]
    e_hosts, r_hosts = chosen[:2], chosen[2:]

    planted = beacons.plan_beacons(world, rng, space, b_hosts)
    planted_scans = scans.plan_scans(world, rng, space, s_hosts)
    planted_exfil = exfil.plan_exfil(world, rng, space, e_hosts)
    rare = periodic.plan_rare(world, rng, space, r_hosts)
    world.extra["planted"] = [*planted, *planted_scans, *planted_exfil]
    return {
        "beacons": [b.truth for b in planted],
        "rare_benign_periodic": rare,
        "fumblers": [s.truth for s in planted_scans if s.kind == "fumble"],
        "scanners": [s.truth for s in planted_scans if s.kind != "fumble"],
        "dns_tunnels": [e.truth for e in planted_exfil if e.kind == "dns_tunnel"],
        "large_uploads": [e.truth for e in planted_exfil if e.kind == "large_upload"],
    }


def attack_traffic(ctx: DayChunk) -> Traffic:
    """Traffic of every planted item whose host is in this unit's chunk."""
    out = Traffic()
    lo, hi = int(ctx.hosts[0]), int(ctx.hosts[-1]) + 1
    for i, item in enumerate(ctx.world.extra["planted"]):
        if not lo <= item.host < hi:
            continue
        rng = ctx.rng(ATTACKS * 1000 + i)
        if isinstance(item, beacons.Beacon):
            out.extend(beacons.beacon_traffic(ctx, rng, item))
        elif isinstance(item, scans.Scan):
            out.extend(scans.scan_traffic(ctx, rng, item))
        else:
            out.extend(exfil.exfil_traffic(ctx, rng, item))
    return out


def add_counts(world: World, counts: dict[str, int]) -> None:
    """Record in the truth entries how many rows each planted item produced and on which day."""
    start = dt.date.fromisoformat(world.start)
    for shape in world.extra.get("c2_shapes", []):
        shape.truth["connections"] = counts.get(f"c2_shape:{shape.index}", 0)
    for item in world.extra["planted"]:
        if isinstance(item, beacons.Beacon):
            item.truth["connections"] = counts.get(f"beacon:{item.index}", 0)
            continue
        if isinstance(item, scans.Scan):
            key = "fumble" if item.kind == "fumble" else "scan"
            item.truth["connections"] = counts.get(f"{key}:{item.host}", 0)
        elif item.kind == "dns_tunnel":
            item.truth["queries"] = counts.get("dns_tunnel", 0)
        if item.day >= 0:
            item.truth["date"] = (start + dt.timedelta(days=item.day)).isoformat()

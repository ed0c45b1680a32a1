"""`simulate`: build the world, generate every (day, host chunk), write the logs and truth.json.

The world (addresses, sites, services, planted items) is built once from `seed`. Traffic is then
generated for chunks of `CHUNK_HOSTS` hosts and one day at a time, each from its own derived random
generator, and spilled to disk; finally every day's logs are merged hour by hour (see
`zeek_writer`). Same arguments give byte-identical output.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from winnow.sim import attacks, c2_shapes, dns, frames, zeek_sides
from winnow.sim import logons as logons_sim
from winnow.sim.browsing import apps, browsing, plan_browsing
from winnow.sim.context import DNS_LATE, DayChunk
from winnow.sim.endpoint import EndpointSim
from winnow.sim.endpoint_security import write_security_logs
from winnow.sim.frames import Traffic
from winnow.sim.housekeeping import housekeeping, plan_housekeeping
from winnow.sim.internal import internal, plan_internal
from winnow.sim.internet import build_internet
from winnow.sim.network import World, build_internal, sub_rng
from winnow.sim.periodic import periodic, plan_services
from winnow.sim.zeek_format import Formatter
from winnow.sim.zeek_writer import HourSpill

CHUNK_HOSTS = 500
LOGS = ("conn", "dns", "http", "ssl")


def build_world(hosts: int, days: int, seed: int, start: str) -> tuple[World, dict]:
    """The simulated company and internet, with everything planted; returns it and the truth lists."""
    world = World(seed=seed, n_workstations=hosts, days=days, start=start)
    build_internal(world, sub_rng(seed, 0, 0))
    space = build_internet(world, sub_rng(seed, 0, 1))
    plan_browsing(world, sub_rng(seed, 0, 2), space)
    dns.plan_dns(world, sub_rng(seed, 0, 3), space)
    plan_internal(world, sub_rng(seed, 0, 4))
    plan_services(world, sub_rng(seed, 0, 5), space)
    truth = attacks.plan_attacks(world, sub_rng(seed, 0, 6), space)
    truth["housekeeping"] = plan_housekeeping(world, sub_rng(seed, 0, 7), space)
    taken = {item.host for item in world.extra["planted"]}
    world.extra["c2_shapes"] = c2_shapes.plan_shapes(world, sub_rng(seed, 0, 8), space, taken)
    truth["c2_shapes"] = [s.truth for s in world.extra["c2_shapes"]]
    world.extra["zeek_sides"] = zeek_sides.plan_sides(world, sub_rng(seed, 0, 9), space)
    truth["zeek_sides"] = [s.truth for s in world.extra["zeek_sides"]]
    world.sites.freeze()
    world.freeze()
    return world, truth


def generate(ctx: DayChunk) -> Traffic:
    """All traffic of one (day, host chunk), DNS lookups included."""
    out = Traffic()
    for gen in (browsing, apps, internal, periodic, attacks.attack_traffic, dns.noise):
        out.extend(gen(ctx))
    out.extend(dns.lookups(ctx, out.frames["conn"]))
    late = Traffic()  # added after the original generators so their streams stay as they were
    for gen in (housekeeping, c2_shapes.shape_traffic, zeek_sides.sides):
        late.extend(gen(ctx))
    late.extend(dns.lookups(ctx, late.frames["conn"], DNS_LATE))
    out.extend(late)
    return out


def _hard_negatives(world: World) -> list[dict]:
    s = world.sites
    out = []
    for svc in world.extra["services"]:
        users = svc.period > 0
        ips = s.ips_a[s.ip_off_a[svc.site] : s.ip_off_a[svc.site + 1]]
        out.append(
            {
                "service": svc.key,
                "name": world.names[int(s.name_a[svc.site])],
                "dst": [world.ips[int(i)] for i in ips],
                "dport": {"ntp": 123, "http": 80}.get(svc.app, 443),
                "periods": sorted({int(p) for p in svc.period[users]}),
                "jitter_s": svc.jitter_s,
                "hosts": int(users.sum()),
                "share_of_hosts": round(float(users.mean()), 3),
                "when": "user present" if svc.schedule == "present" else "machine on",
            }
        )
    return out


def simulate(
    out: str | Path,
    hosts: int = 50,
    days: int = 1,
    seed: int = 0,
    start: str = "2026-11-02",
    progress: Callable[[int, int], None] | None = None,
    endpoint_share: float = 0.5,
    clock_skew: float = 3.0,
    endpoint_loss: float = 0.02,
    identity_attacks: bool = True,
    logons: bool = False,
) -> dict:
    """Simulate `hosts` workstations for `days` UTC days and write Zeek logs, endpoint logs and truth.

    Args:
        out: output folder; logs go to `out/zeek/<YYYY-MM-DD>/{conn,dns,http,ssl}.log`.
        hosts: number of workstations (servers come on top).
        days: number of consecutive days starting at `start` (ISO date, UTC).
        seed: everything random derives from it; same arguments give identical files.
        progress: called as `progress(done, total)` after each unit of work.
        endpoint_share: share of workstations with endpoint logging (half Sysmon, half auditd) written to
            `out/endpoint/<date>/{sysmon.json,audit.log}`, with `out/endpoint_truth.parquet` naming the
            process of each of their connections (see `winnow.sim.endpoint`); 0 writes none.
        clock_skew: bound in seconds of each instrumented host's clock offset.
        endpoint_loss: share of endpoint network events not logged.
        identity_attacks: plant the identity attacks (spraying, brute force, roasting, DCSync) in the
            Windows Security logs written with the endpoint logs (`winnow.sim.endpoint_security`); false
            writes a clean domain.
        logons: also write Windows Security and Linux auth logs of one person per workstation, with a planted
            first-time admin logon chain (`winnow.sim.logons`; truth in `out/logons_truth.json`).

    Returns:
        Summary: rows per log, seconds taken, the log files and the truth path.
    """
    if hosts < 1 or days < 1:
        raise ValueError("hosts and days must be at least 1")
    dt.date.fromisoformat(start)
    began = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world, truth = build_world(hosts, days, seed, start)
    total_hosts = len(world.hosts)
    chunks = [np.arange(lo, min(lo + CHUNK_HOSTS, total_hosts)) for lo in range(0, total_hosts, CHUNK_HOSTS)]
    units, done = len(chunks) * days + len(LOGS) * days, 0
    spill = HourSpill(out / ".winnow-sim-tmp", start)
    endpoint = EndpointSim(world, out, endpoint_share, clock_skew, endpoint_loss)
    counts: dict[str, int] = {}
    try:
        for day in range(days):
            for ci, chunk in enumerate(chunks):
                ctx = DayChunk(world, day, ci, chunk)
                traffic = generate(ctx)
                endpoint.observe(ctx, traffic)
                for log in LOGS:
                    spill.spill(log, day, ci, frames.to_table(log, frames.concat(log, traffic.frames[log])))
                for key, n in traffic.counts.items():
                    counts[key] = counts.get(key, 0) + n
                del traffic
                done += 1
                if progress:
                    progress(done, units)
        formatter = Formatter(world)
        rows = dict.fromkeys(LOGS, 0)
        files = []
        for day in range(days):
            date = (dt.date.fromisoformat(start) + dt.timedelta(days=day)).isoformat()
            for log in LOGS:
                path = out / "zeek" / date / f"{log}.log"
                rows[log] += spill.merge(log, day, path, formatter)
                files.append(str(path))
                done += 1
                if progress:
                    progress(done, units)
    finally:
        spill.cleanup()
        endpoint_summary = endpoint.close()
    attacks.add_counts(world, counts)
    security = (write_security_logs(out, hosts, days, seed, start, identity_attacks) if endpoint_share > 0
                else {"files": [], "events": 0, "identity": [], "domain_controllers": []})
    truth["identity"] = security["identity"]
    logon_summary = logons_sim.simulate_logons(out, users=max(4, hosts), days=days, seed=seed, start=start) \
        if logons else None
    truth.update(
        {
            "seed": seed,
            "hosts": hosts,
            "days": days,
            "start": start,
            "internal_cidr": "10.0.0.0/8",
            "servers": {role: world.ips[i] for role, i in world.server_ip.items()},
            "hard_negatives": _hard_negatives(world),
            "endpoint": _relative_paths(endpoint_summary, out),  # same seed, same bytes, wherever written
            "security": {"files": [str(Path(f).relative_to(out)) for f in security["files"]],
                         "events": security["events"], "domain_controllers": security["domain_controllers"]},
        }
    )
    if logon_summary:
        truth["logons"] = str(Path(logon_summary["truth"]).relative_to(out))
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return {
        "out": str(out),
        "truth": str(truth_path),
        "files": files,
        "rows": rows,
        "seconds": round(time.perf_counter() - began, 2),
        "hosts": hosts,
        "days": days,
        "seed": seed,
        "endpoint": {k: endpoint_summary[k] for k in ("counts", "files", "truth")},
    }


def _relative_paths(summary: dict, out: Path) -> dict:
    """The endpoint summary with its file paths relative to the output folder."""
    def rel(path: str | None) -> str | None:
        return None if path is None else str(Path(path).relative_to(out))

    return {**summary, "truth": rel(summary.get("truth")), "files": [rel(f) for f in summary.get("files", [])]}

"""Network housekeeping on every workstation: the benign chatter real networks are full of.

    what        flow (Zeek conn.log)                                   when
    DHCP boot   0.0.0.0:68 -> 255.255.255.255:67 "D" S0, and the        each morning a machine starts
                gateway's offer <gw>:67 -> 255.255.255.255:68
    DHCP renew  host:68 -> gateway (10.x.y.1):67 "Dd" SF `dhcp`        every lease/2: 300 s (6 % of
                                                                       hosts), 30 min, 1 h, 4 h, 12 h
    NTP (w32tm) host:123 -> dc01:123, 4 % of polls unanswered (S0)     every 15 min-1 h while on
    NTP dead    host:123 -> one of 4 blocked public NTP servers, S0    7 % of hosts, every 1024 s
    SSDP        host:eph -> 239.255.255.250:1900, 3 M-SEARCHes "D" S0  every 5-30 min while present
    mDNS        host:5353 -> 224.0.0.251:5353 (+ fe80:: -> ff02::fb)    Poisson 4/h while on
    LLMNR       host:eph -> 224.0.0.252:5355 (+ ff02::1:3)              Poisson 2/h while present
    NetBIOS     host:138 -> 10.x.y.255:138 browser announcement        every 12 min (60 % of hosts)
                host:137 -> 10.x.y.255:137 name query                   Poisson 1/h while present
    DNS-SD/AD   SRV/PTR lookups via the resolver (`_ldap._tcp.dc._msdcs…` every 15 min-1 h per host,
                answered; `_https._tcp…`, `lb._dns-sd._udp…`, a site's `_ldap._tcp…` NXDOMAIN)

Multicast and broadcast flows get no reply in the same flow (Zeek logs them one-way: "D", S0).
truth.json lists all of it under `housekeeping` (benign: any finding on it is a false positive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winnow.sim import arrays, catalog, dns, frames
from winnow.sim.catalog import S0, SF, UDP
from winnow.sim.context import HOUSEKEEPING, US, DayChunk
from winnow.sim.frames import Frame, Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import HOSTS_PER_BLOCK, World

_DHCP = catalog.SERVICE_CODE["dhcp"]
_NTP = catalog.SERVICE_CODE["ntp"]
_ONEWAY = catalog.HISTORY_CODE[catalog.UDP_HISTORY_ONEWAY]
_REPLIED = catalog.HISTORY_CODE[catalog.UDP_HISTORY_REPLIED]
MULTICAST = {
    "broadcast": "255.255.255.255",
    "unspecified": "0.0.0.0",
    "ssdp": "239.255.255.250",
    "mdns": "224.0.0.251",
    "mdns6": "ff02::fb",
    "llmnr": "224.0.0.252",
    "llmnr6": "ff02::1:3",
}
DNS_SD = (  # (label under the corp domain, qtype, rcode, period choices in s)
    ("_ldap._tcp.dc._msdcs", 33, 0),
    ("_kerberos._tcp.dc._msdcs", 33, 0),
    ("_ldap._tcp.branch-site._sites.dc._msdcs", 33, 3),
    ("_https._tcp", 33, 3),
    ("lb._dns-sd._udp", 12, 3),
    ("b._dns-sd._udp", 12, 3),
)


@dataclass
class Plan:
    """Per-host housekeeping parameters (indexed like `world.hosts`) and the addresses involved."""

    addr: dict[str, int]
    gateway: np.ndarray
    bcast: np.ndarray
    v6: np.ndarray
    dhcp_period: np.ndarray
    ntp_period: np.ndarray
    dead_ntp: np.ndarray
    ssdp_period: np.ndarray
    netbios: np.ndarray
    sd_period: np.ndarray
    phase: np.ndarray
    dead_ntp_ips: list[int]
    sd_names: np.ndarray
    sd_qtype: np.ndarray
    sd_rcode: np.ndarray


def plan_housekeeping(world: World, rng: np.random.Generator, space: AddressSpace) -> dict:
    """Register the addresses and names, draw every host's housekeeping; returns the truth entry."""
    h = world.hosts
    n = len(h)
    addr = {k: world.add_ip(v) for k, v in MULTICAST.items()}
    ws = ~h.server
    block = _blocks(world)
    gw = np.array([world.add_local_ip(_block_ip(b, 1)) for b in range(int(block.max()) + 1)], np.int32)
    bc = np.array([world.add_local_ip(_block_ip(b, 255)) for b in range(int(block.max()) + 1)], np.int32)
    v6 = np.array([world.add_ip(f"fe80::{int(x):x}:{int(y):x}") for x, y in rng.integers(1, 0xFFFF, (n, 2))])
    dhcp = rng.choice([300, 1800, 3600, 14400, 43200], n, p=[0.06, 0.2, 0.34, 0.25, 0.15])
    dead_ntp = ws & (rng.random(n) < 0.07)
    dead_ips = [space.fresh() for _ in range(4)]
    c = catalog.CORP_DOMAIN
    dc = world.ips[world.server_ip["dc01"]]
    sd = [world.add_name(f"{label}.{c}", ttl=600, a=None if rc else f"dc01.{c}") for label, _, rc in DNS_SD]
    plan = Plan(
        addr=addr,
        gateway=gw[block],
        bcast=bc[block],
        v6=v6,
        dhcp_period=np.where(ws, dhcp, 0),
        ntp_period=np.where(ws, rng.choice([900, 1800, 3600], n), 0),
        dead_ntp=dead_ntp,
        ssdp_period=np.where(ws, rng.choice([300, 600, 900, 1800], n), 0),
        netbios=ws & (rng.random(n) < 0.6),
        sd_period=np.where(ws, rng.choice([900, 1800, 3600], n), 0),
        phase=rng.integers(0, 3600 * US, (n, 6)),
        dead_ntp_ips=dead_ips,
        sd_names=np.array(sd, np.int32),
        sd_qtype=np.array([q for _, q, _ in DNS_SD], np.int16),
        sd_rcode=np.array([r for _, _, r in DNS_SD], np.int8),
    )
    world.extra["housekeeping"] = plan
    gws = sorted({world.ips[int(g)] for g in plan.gateway[ws]})
    return {
        "kind": "housekeeping",
        "services": [
            {"service": "dhcp", "proto": "udp", "dport": 67, "dst": ["255.255.255.255", *gws],
             "renew_periods": sorted({int(p) for p in plan.dhcp_period[ws]})},
            {"service": "ntp", "proto": "udp", "dport": 123, "dst": [dc], "unanswered_share": 0.04},
            {"service": "ntp_dead", "proto": "udp", "dport": 123, "dst": [world.ips[i] for i in dead_ips],
             "hosts": [world.ips[int(i)] for i in h.ip[dead_ntp]], "period": 1024},
            {"service": "ssdp", "proto": "udp", "dport": 1900, "dst": [MULTICAST["ssdp"]]},
            {"service": "mdns", "proto": "udp", "dport": 5353, "dst": [MULTICAST["mdns"], MULTICAST["mdns6"]]},
            {"service": "llmnr", "proto": "udp", "dport": 5355, "dst": [MULTICAST["llmnr"], MULTICAST["llmnr6"]]},
            {"service": "netbios", "proto": "udp", "dport": [137, 138],
             "dst": sorted({world.ips[int(b)] for b in plan.bcast[ws]})},
        ],
        "dns_names": [world.names[int(i)] for i in sd],
        "nxdomain_names": [world.names[int(i)] for i, (_, _, rc) in zip(sd, DNS_SD, strict=True) if rc],
    }


def _blocks(world: World) -> np.ndarray:
    """Workstation /24 block of every host (servers: 0)."""
    h = world.hosts
    ws_pos = np.cumsum(~h.server) - 1
    return np.where(h.server, 0, ws_pos // HOSTS_PER_BLOCK)


def _block_ip(block: int, last: int) -> str:
    return f"10.{1 + block // 256}.{block % 256}.{last}"


def ticks(
    ctx: DayChunk, rng: np.random.Generator, period_s: np.ndarray, phase: np.ndarray, jitter_s: float,
    schedule: str = "on",
) -> tuple[np.ndarray, np.ndarray]:
    """Local host indexes and times of a per-host fixed-period schedule inside its window."""
    a, b = ctx.window(schedule)
    p = np.asarray(period_s, dtype=np.int64) * US
    local = np.flatnonzero((p > 0) & (a >= 0))
    p, a, b = p[local], a[local], b[local]
    ph = phase[local] % p
    k0 = -((ph + ctx.day0 - a) // p)
    count = np.maximum(-((ph + ctx.day0 - b) // p) - k0, 0)
    host = np.repeat(local, count)
    k = np.repeat(k0, count) + arrays.position_in_group(count)
    ts = ctx.day0 + np.repeat(ph, count) + k * np.repeat(p, count)
    ts += (rng.uniform(-jitter_s, jitter_s, len(ts)) * US).astype(np.int64)
    return host, ts


def udp_flows(
    rng: np.random.Generator, *, ts: np.ndarray, src: np.ndarray, sport: np.ndarray | int, dst: np.ndarray | int,
    dport: int, orig: int, pkts: np.ndarray | int = 1, resp: int = 0, replied: np.ndarray | None = None,
    service: int = 0,
) -> Frame:
    """UDP flows of `pkts` datagrams of `orig` bytes; one-way ("D", S0) unless `replied` ("Dd", SF)."""
    n = len(ts)
    ok = np.zeros(n, bool) if replied is None else np.asarray(replied, bool)
    pk = np.broadcast_to(np.asarray(pkts, dtype=np.int64), (n,))
    multi = (pk > 1) | ok
    spread = (pk - 1) * rng.integers(200_000, 1_100_000, n)
    dur = np.where(multi, np.where(ok, rng.integers(300, 40_000, n), spread), -1)
    uid_a, uid_b = frames.uids(rng, n)
    return frames.new(
        "conn", n, ts=ts, uid_a=uid_a, uid_b=uid_b, src=src,
        sport=np.where(np.asarray(sport) < 0, rng.integers(49152, 65536, n), sport), dst=dst, dport=dport,
        proto=UDP, service=np.where(ok, service, 0), duration=dur,
        orig_bytes=np.where(multi, pk * orig, -1), resp_bytes=np.where(multi, np.where(ok, resp, 0), -1),
        state=np.where(ok, SF, S0), history=np.where(ok, _REPLIED, _ONEWAY),
        orig_pkts=pk, orig_ip_bytes=pk * (orig + 28), resp_pkts=ok.astype(np.int64),
        resp_ip_bytes=np.where(ok, resp + 28, 0),
    )


def housekeeping(ctx: DayChunk) -> Traffic:
    """Every housekeeping flow and lookup of this unit's hosts."""
    w, plan, idx = ctx.world, ctx.world.extra["housekeeping"], ctx.hosts
    rng = ctx.rng(HOUSEKEEPING)
    ip = ctx.ip
    a = plan.addr
    out = Traffic()

    def add(frame: Frame, key: str) -> None:
        out.add("conn", frame)
        out.count(f"housekeeping:{key}", frames.size(frame))

    # DHCP: broadcast DISCOVER/REQUEST + offer when a machine starts, unicast renewals while on
    boot = np.flatnonzero(ctx.on & ~w.hosts.always_on[idx] & ~w.hosts.server[idx])
    bts = ctx.on_start[boot] + rng.integers(5, 40, len(boot)) * US
    add(udp_flows(rng, ts=bts, src=a["unspecified"], sport=68, dst=a["broadcast"], dport=67, orig=300, pkts=2), "dhcp")
    add(udp_flows(rng, ts=bts + rng.integers(2_000, 60_000, len(boot)), src=plan.gateway[idx[boot]], sport=67,
                  dst=a["broadcast"], dport=68, orig=300, pkts=2), "dhcp")
    host, ts = ticks(ctx, rng, plan.dhcp_period[idx], plan.phase[idx, 0], 0.2)
    add(udp_flows(rng, ts=ts, src=ip[host], sport=68, dst=plan.gateway[idx[host]], dport=67, orig=300, resp=300,
                  replied=np.ones(len(ts), bool), service=_DHCP), "dhcp")
    # NTP to the domain controller (some polls unanswered), and blocked public NTP on a few hosts
    host, ts = ticks(ctx, rng, plan.ntp_period[idx], plan.phase[idx, 1], 0.5)
    add(udp_flows(rng, ts=ts, src=ip[host], sport=123, dst=w.server_ip["dc01"], dport=123, orig=48, resp=48,
                  replied=rng.random(len(ts)) >= 0.04, service=_NTP), "ntp")
    host, ts = ticks(ctx, rng, np.where(plan.dead_ntp[idx], 1024, 0), plan.phase[idx, 1], 0.05)
    dead = np.asarray(plan.dead_ntp_ips, np.int32)[(idx[host] + ctx.day) % len(plan.dead_ntp_ips)]
    add(udp_flows(rng, ts=ts, src=ip[host], sport=123, dst=dead, dport=123, orig=48,
                  pkts=rng.integers(1, 4, len(ts))), "ntp")
    # SSDP discovery bursts while the user works
    host, ts = ticks(ctx, rng, plan.ssdp_period[idx], plan.phase[idx, 2], 3.0, "present")
    add(udp_flows(rng, ts=ts, src=ip[host], sport=-1, dst=a["ssdp"], dport=1900, orig=172,
                  pkts=rng.integers(2, 5, len(ts))), "ssdp")
    # mDNS and LLMNR (IPv4 and, for IPv6 hosts, link-local to ff02::)
    for key, rate, sched, v4, v6, port in (
        ("mdns", 4.0, "on", a["mdns"], a["mdns6"], 5353),
        ("llmnr", 2.0, "present", a["llmnr"], a["llmnr6"], 5355),
    ):
        host, ts = ctx.poisson_events(rng, np.where(w.hosts.server[idx], 0.0, rate), sched)
        six = w.hosts.aaaa[idx[host]] & (rng.random(len(ts)) < 0.5)
        sport = 5353 if key == "mdns" else -1
        add(udp_flows(rng, ts=ts, src=np.where(six, plan.v6[idx[host]], ip[host]), sport=sport,
                      dst=np.where(six, v6, v4), dport=port, orig=int(rng.integers(40, 90))), key)
    # NetBIOS browser announcements (every 12 min) and name-query broadcasts
    host, ts = ticks(ctx, rng, np.where(plan.netbios[idx], 720, 0), plan.phase[idx, 3], 1.0)
    add(udp_flows(rng, ts=ts, src=ip[host], sport=138, dst=plan.bcast[idx[host]], dport=138, orig=229), "netbios")
    host, ts = ctx.poisson_events(rng, np.where(plan.netbios[idx], 1.0, 0.0), "present")
    add(udp_flows(rng, ts=ts, src=ip[host], sport=137, dst=plan.bcast[idx[host]], dport=137, orig=50,
                  pkts=rng.integers(1, 4, len(ts))), "netbios")
    # DNS-SD and AD locator lookups through the resolver
    host, ts = ticks(ctx, rng, plan.sd_period[idx], plan.phase[idx, 4], 2.0)
    which = (idx[host] + rng.integers(0, 2, len(ts)) * 3 + np.arange(len(ts))) % len(plan.sd_names)
    name = plan.sd_names[which]
    rtt, _ = dns.rtts(rng, len(ts))
    ok = plan.sd_rcode[which] == 0
    q = dns.queries(rng, w, ts=ts, src=ip[host], qtype=plan.sd_qtype[which], rtt=rtt, rcode=plan.sd_rcode[which],
                    query=name, answers=np.where(ok, w.ans_a_arr[name], -1), n_ans=ok.astype(np.int64),
                    ttl=np.where(ok, 600, 0))
    out.extend(q)
    out.count("housekeeping:dns_sd", len(ts))
    return out

"""DNS: the lookups that precede connections, plus the background noise every network has.

Model:
    * Every connection to a named destination needs an answer: a host asks its resolver (10.0.0.53
      for 80 % of hosts, 10.0.0.54 for the rest) when it has not asked for that name within the
      name's TTL. The query leaves 0.3-3 ms plus the lookup time before the connection; the
      resolver answers from cache (median 1.5 ms, remaining TTL) or recursively (median 25 ms,
      full TTL). Half of the hosts also ask AAAA alongside A. Answers list a CDN CNAME first,
      then every address of the name (the fan-out a connection picks from).
    * Noise: Chromium's intranet-redirect probes (three random 7-15 letter names, NXDOMAIN, when the
      browser starts and now and then), Active Directory names (SRV, A), WPAD/ISATAP NXDOMAINs,
      reverse (PTR) lookups, typos and dead names.
    * Each query is also a UDP conn row host -> resolver:53 with `service` dns and its uid.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.sim import arrays, catalog, frames, transport
from winnow.sim.context import DNS, DNS_NOISE, US, DayChunk
from winnow.sim.frames import Frame, Traffic
from winnow.sim.internet import AddressSpace, unique_name
from winnow.sim.network import World

_DNS = catalog.SERVICE_CODE["dns"]
_LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def random_strings(
    rng: np.random.Generator, lengths: np.ndarray, alphabet: np.ndarray = _LETTERS, suffix: str = ""
) -> pa.Array:
    """Random strings of the given lengths over `alphabet` (uint8 codes), each followed by `suffix`."""
    lengths = np.asarray(lengths, dtype=np.int64)
    tail = np.frombuffer(suffix.encode(), dtype=np.uint8)
    full = lengths + len(tail)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(full, out=offsets[1:])
    data = alphabet[rng.integers(0, len(alphabet), int(offsets[-1]))]
    if len(tail):
        pos = np.repeat(offsets[1:] - len(tail), len(tail)) + np.tile(np.arange(len(tail)), len(lengths))
        data[pos] = np.tile(tail, len(lengths))
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data))


def plan_dns(world: World, rng: np.random.Generator, space: AddressSpace) -> None:
    """Register the internal and noise names (with their qtype and rcode)."""
    c, ip = catalog.CORP_DOMAIN, world.ips
    srv = world.server_ip
    noise: list[tuple[int, int, int, float]] = []  # (name, qtype, rcode, weight)
    for host, role in (("dc01", "dc01"), ("fs01", "fs01"), ("intranet", "intranet")):
        noise.append((world.add_name(f"{host}.{c}", ttl=1200, a=ip[srv[role]]), 1, 0, 3.0))
    dc = f"dc01.{c}"
    for label in (
        "_ldap._tcp.dc._msdcs",
        "_kerberos._tcp",
        "_ldap._tcp.default-first-site-name._sites.dc._msdcs",
    ):
        noise.append((world.add_name(f"{label}.{c}", ttl=600, a=dc), 33, 0, 1.5))
    for label in (f"wpad.{c}", f"isatap.{c}", "wpad", f"printer-3f.{c}"):
        noise.append((world.add_name(label, ttl=0), 1, 3, 1.0))
    for _ in range(200):
        noise.append((world.add_name(unique_name(world, rng, "{w}{w2}.{tld}"), ttl=0), 1, 3, 0.1))
    for _ in range(300):
        a, b, cc, d = world.ips[space.fresh()].split(".")
        ptr = f"{d}.{cc}.{b}.{a}.in-addr.arpa"
        ok = rng.random() < 0.5
        target = f"ip-{a}-{b}-{cc}-{d}.{unique_name(world, rng, '{w}-hosting.net')}" if ok else None
        noise.append((world.add_name(ptr, ttl=3600, a=target), 12, 0 if ok else 3, 0.05))
    arr = np.array(noise)
    world.extra["noise_name"] = arr[:, 0].astype(np.int32)
    world.extra["noise_qtype"] = arr[:, 1].astype(np.int16)
    world.extra["noise_rcode"] = arr[:, 2].astype(np.int8)
    world.extra["noise_cdf"] = np.cumsum(arr[:, 3]) / arr[:, 3].sum()


def rtts(rng: np.random.Generator, n: int, hit_rate: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Resolver round-trip times in microseconds and whether each was a cache hit."""
    hit = rng.random(n) < hit_rate
    rtt = np.where(hit, rng.lognormal(np.log(1500), 0.5, n), rng.lognormal(np.log(25_000), 0.8, n))
    return np.maximum(rtt, 150).astype(np.int64), hit


def queries(
    rng: np.random.Generator,
    world: World,
    *,
    ts: np.ndarray,
    src: np.ndarray,
    qtype: np.ndarray | int,
    rtt: np.ndarray,
    rcode: np.ndarray | int = 0,
    query: np.ndarray | int = -1,
    qstr: pa.Array | None = None,
    answers: np.ndarray | int = -1,
    astr: pa.Array | None = None,
    n_ans: np.ndarray | int = 0,
    ttl: np.ndarray | int = 0,
    qlen: np.ndarray | None = None,
) -> Traffic:
    """DNS queries from `src` to its resolver: a UDP conn row and a dns row for each."""
    n = len(ts)
    if qlen is None:
        qlen = world.name_len_arr[np.asarray(query)] if np.ndim(query) else np.full(n, 20)
    n_ans = np.broadcast_to(np.asarray(n_ans, dtype=np.int64), (n,))
    orig = 29 + qlen
    conn = transport.udp(
        rng,
        ts=ts,
        src=src,
        dst=world.resolver_of_ip[src],
        dport=53,
        orig_bytes=orig,
        resp_bytes=orig + 11 + 22 * n_ans,
        duration=rtt,
        service=_DNS,
    )
    cols: dict = dict(
        trans_id=rng.integers(0, 65536, n),
        rtt=rtt,
        query=query,
        qtype=qtype,
        rcode=rcode,
        answers=answers,
        n_ans=n_ans,
        ttl=ttl,
    )
    if qstr is not None:
        cols["qstr"] = qstr
    if astr is not None:
        cols["astr"] = astr
    out = Traffic()
    out.add("conn", conn)
    out.add("dns", frames.derive("dns", conn, np.arange(n), **cols))
    return out


def lookups(ctx: DayChunk, conns: list[Frame], component: int = DNS) -> Traffic:
    """A and AAAA queries for every connection to a name whose cached answer has expired."""
    if not conns:
        return Traffic()
    rng, w = ctx.rng(component), ctx.world
    src = np.concatenate([f["src"] for f in conns])
    name = np.concatenate([f["name"] for f in conns])
    ts = np.concatenate([f["ts"] for f in conns])
    keep = (name >= 0) & ~w.is_resolver[src]
    src, name, ts = src[keep], name[keep], ts[keep]
    order = np.lexsort((ts, name, src))
    src, name, ts = src[order], name[order], ts[order]
    first = np.ones(len(ts), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (name[1:] != name[:-1])
    gap = np.diff(ts, prepend=0)
    need = first | (gap > w.name_ttl_arr[name] * US)
    src, name, ts = src[need], name[need], ts[need]

    aaaa = w.hosts.aaaa[w.host_of_ip[src]]
    src = np.concatenate([src, src[aaaa]])
    name = np.concatenate([name, name[aaaa]])
    qtype = np.concatenate([np.ones(len(ts), np.int16), np.full(int(aaaa.sum()), 28, np.int16)])
    ts = np.concatenate([ts, ts[aaaa]])
    n = len(ts)
    rtt, hit = rtts(rng, n)
    qts = ts - rtt - rng.integers(300, 3000, n) + np.where(qtype == 28, rng.integers(30, 400, n), 0)
    ans = np.where(qtype == 1, w.ans_a_arr[name], w.ans_aaaa_arr[name])
    n_ans = np.where(ans >= 0, w.ans_count_arr[np.maximum(ans, 0)], 0)
    full = w.name_ttl_arr[name]
    ttl = np.where(hit, (rng.random(n) * full).astype(np.int64) + 1, full)
    return queries(
        rng, w, ts=qts, src=src, qtype=qtype, rtt=rtt, query=name, answers=ans, n_ans=n_ans, ttl=ttl
    )


def noise(ctx: DayChunk) -> Traffic:
    """Background DNS of running machines: AD names, NXDOMAINs, PTRs and browser probes."""
    rng, w = ctx.rng(DNS_NOISE), ctx.world
    on = np.flatnonzero(ctx.on & ~w.is_resolver[ctx.ip])
    span = (ctx.on_end[on] - ctx.on_start[on]) / (3600 * US)
    count = rng.poisson(1.5 * span + 10 * ctx.present[on])
    host = np.repeat(on, count)
    ts = ctx.on_start[host] + (rng.random(len(host)) * (ctx.on_end[host] - ctx.on_start[host])).astype(
        np.int64
    )
    pick = np.minimum(
        np.searchsorted(w.extra["noise_cdf"], rng.random(len(host))), len(w.extra["noise_cdf"]) - 1
    )
    name = w.extra["noise_name"][pick]
    rcode = w.extra["noise_rcode"][pick]
    ans = np.where(rcode == 0, w.ans_a_arr[name], -1)
    rtt, _ = rtts(rng, len(host), 0.5)
    out = queries(
        rng,
        w,
        ts=ts,
        src=ctx.ip[host],
        qtype=w.extra["noise_qtype"][pick],
        rtt=rtt,
        rcode=rcode,
        query=name,
        answers=ans,
        n_ans=np.where(ans >= 0, w.ans_count_arr[np.maximum(ans, 0)], 0),
        ttl=w.name_ttl_arr[name],
    )

    chromium = np.isin(w.hosts.browser[ctx.hosts], (0, 1, 4)) & ctx.present
    users = np.flatnonzero(chromium)
    starts = 1 + rng.poisson(1.0, len(users))
    pos = arrays.position_in_group(starts)
    span = np.repeat(ctx.pres_end[users] - ctx.pres_start[users], starts)
    probe_at = np.repeat(ctx.pres_start[users], starts) + np.where(pos == 0, 0, rng.random(len(pos)) * span)
    probe_at = probe_at.astype(np.int64)
    probe_host = np.repeat(users, starts)
    ts = np.repeat(probe_at, 3) + rng.integers(0, 20_000, 3 * len(probe_at))
    lengths = rng.integers(7, 16, len(ts))
    rtt, _ = rtts(rng, len(ts), 0.0)
    out.extend(
        queries(
            rng,
            w,
            ts=ts,
            src=ctx.ip[np.repeat(probe_host, 3)],
            qtype=1,
            rtt=rtt,
            rcode=3,
            qstr=random_strings(rng, lengths),
            qlen=lengths,
        )
    )
    return out

"""Planted command-and-control beacons: the positives a beacon detector must find.

Each beacon is one infected workstation calling one rare external address:

    * period from 30 s to 1 h (the first four are always 60 s, 3600 s "low and slow" = 24 a day,
      30 s and 300 s; the rest random), jitter 0-50 % (each callback shifted by U(-j, +j) x period),
      0-30 % of callbacks missed;
    * active all day, only during the user's working hours on weekdays, or in one 4-hour burst a day;
    * over HTTPS (ssl.log: a rare SNI or none at all, TLS 1.2 with a self-signed certificate or
      TLS 1.3, an unusual client JA3) or HTTP (http.log: a rare user agent, a Host header that is
      a rare domain, a bare IP or missing, a fixed URI), on 443/80 or 8443/8080;
    * near-constant sizes: request and response each drawn once per beacon (180-700 B up,
      120-1500 B down) and varied by 2 % per callback; some have tasking bursts: after a callback,
      3-8 quick extra connections carrying 50 kB-20 MB (POST results for HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winnow.sim import arrays, catalog, internet
from winnow.sim.context import HOUR, US, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World
from winnow.sim.web import web

PERIODS = (30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 3600)
JITTERS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
C2_STACKS = ("cobaltstrike-win", "sliver-go", "meterpreter", "empire-ps", "havoc", "mythic-poseidon")
C2_URIS = (
    "/jquery-3.3.1.min.js",
    "/api/v1/poll?id={h}",
    "/submit.php?id={n}",
    "/pixel.gif",
    "/updates/check?v={n}",
    "/cm",
    "/en-us/p/{h}",
)


@dataclass
class Beacon:
    """One planted C2 channel; `truth` is what truth.json reports."""

    index: int
    host: int
    site: int
    dst: int
    dport: int
    https: bool
    period: int
    jitter: float
    miss: float
    window: str
    burst_start: float
    phase: int
    orig: int
    resp: int
    tasking: int
    ja3: int
    ua: int
    uri: int
    sni: int
    host_header: int
    lookup: bool
    tls_profile: int
    truth: dict


def plan_beacons(
    world: World, rng: np.random.Generator, space: AddressSpace, hosts: list[int]
) -> list[Beacon]:
    """Draw one beacon per host in `hosts`."""
    out = []
    for i, host in enumerate(hosts):
        period = (60, 3600, 30, 300)[i] if i < 4 else int(rng.choice(PERIODS))
        jitter = float(rng.choice(JITTERS))
        miss = round(float(rng.uniform(0, 0.3)) if rng.random() < 0.7 else 0.0, 2)
        window = (
            "all_day"
            if period >= 1800 or i < 2
            else str(rng.choice(["all_day", "working_hours", "burst"], p=[0.5, 0.25, 0.25]))
        )
        if window == "burst" and period > 300:
            window = "working_hours"
        https = i == 0 or (i != 1 and rng.random() < 0.65)
        odd_port = rng.random() < 0.15
        dport = (8443 if odd_port else 443) if https else (8080 if odd_port else 80)
        dst = space.fresh()
        domain = internet.unique_name(
            world,
            rng,
            str(
                rng.choice(
                    [
                        "{w}-cdn.com",
                        "api.{w}{w2}.net",
                        "{w}.{tld}",
                        "update-{w}.info",
                        "{w}{n}.xyz",
                        "static.{w}.io",
                    ]
                )
            ),
        )
        use_name = bool(rng.random() < (0.6 if https else 0.4))
        self_signed = https and rng.random() < 0.7
        name = domain if use_name else world.ips[dst]
        site = internet.add_site(
            world,
            rng,
            name,
            [dst],
            kind=internet.RARE,
            https=https,
            tls13=https and not self_signed,
            ttl=300,
            valid=catalog.VALID_SELF_SIGNED if self_signed else catalog.VALID_OK,
            stack=f"c2-{i}",
        )
        stack = str(rng.choice(C2_STACKS))
        ua_text = catalog.C2_UAS[int(rng.integers(len(catalog.C2_UAS)))]
        uri_text = C2_URIS[int(rng.integers(len(C2_URIS)))].format(
            h=rng.bytes(6).hex(), n=int(rng.integers(1000, 9999))
        )
        header = world.sites.name[site] if (use_name or rng.random() < 0.5) else -1
        b = Beacon(
            index=i,
            host=host,
            site=site,
            dst=dst,
            dport=dport,
            https=https,
            period=period,
            jitter=jitter,
            miss=miss,
            window=window,
            burst_start=float(rng.uniform(0, 20)),
            phase=int(rng.integers(0, period * US)),
            orig=int(rng.integers(180, 700)),
            resp=int(rng.integers(120, 1500)),
            tasking=int(rng.integers(1, 4)) if rng.random() < 0.35 else 0,
            ja3=world.add_ja3(stack),
            ua=world.add_ua(ua_text),
            uri=world.add_uri(uri_text),
            sni=world.sites.name[site] if use_name else -1,
            host_header=header,
            lookup=use_name,
            tls_profile=catalog.TLS12_NO_ALPN if self_signed else catalog.TLS13_NEW,
            truth={},
        )
        world.hosts.always_on[host] = True
        h = world.hosts
        b.truth = {
            "src": world.ips[int(h.ip[host])],
            "dst": world.ips[dst],
            "dport": dport,
            "period": period,
            "jitter": jitter,
            "miss_rate": miss,
            "kind": "https" if https else "http",
            "window": _window_truth(b, h.work_start[host], h.work_len[host]),
            "tasking_bursts_per_day": b.tasking,
            "name": domain if use_name else None,
            "self_signed": bool(self_signed),
            "ja3_stack": stack if https else None,
            "user_agent": None if https else ua_text,
            "uri": None if https else uri_text,
            "orig_bytes": b.orig,
            "resp_bytes": b.resp,
        }
        out.append(b)
    return out


def _window_truth(b: Beacon, work_start: float, work_len: float) -> dict:
    if b.window == "burst":
        return {
            "kind": "burst",
            "start_hour": round(b.burst_start, 2),
            "end_hour": round(b.burst_start + 4, 2),
        }
    if b.window == "working_hours":
        return {
            "kind": "working_hours",
            "start_hour": round(float(work_start), 2),
            "end_hour": round(float(work_start + work_len), 2),
            "weekdays_only": True,
        }
    return {"kind": "all_day", "start_hour": 0, "end_hour": 24}


def beacon_traffic(ctx: DayChunk, rng: np.random.Generator, b: Beacon) -> Traffic:
    """One beacon's callbacks (and tasking bursts) on this unit's day."""
    w = ctx.world
    if b.window == "burst":
        a = ctx.day0 + int(b.burst_start * HOUR)
        z = a + 4 * HOUR
    elif b.window == "working_hours":
        if ctx.weekend:
            return Traffic()
        a = ctx.day0 + int(w.hosts.work_start[b.host] * HOUR)
        z = a + int(w.hosts.work_len[b.host] * HOUR)
    else:
        a, z = ctx.day0, ctx.day0 + 24 * HOUR
    p = b.period * US
    k = np.arange(-((b.phase - a) // p), -((b.phase - z) // p))
    ts = b.phase + k * p + (rng.uniform(-b.jitter, b.jitter, len(k)) * p).astype(np.int64)
    ts = np.sort(ts[(rng.random(len(k)) >= b.miss) & (ts >= ctx.day0) & (ts < ctx.day0 + 24 * HOUR)])
    n = len(ts)
    orig = (b.orig * (1 + 0.02 * rng.standard_normal(n))).astype(np.int64)
    resp = (b.resp * (1 + 0.02 * rng.standard_normal(n))).astype(np.int64)
    method = np.zeros(n, dtype=np.int64)
    if b.tasking and n:
        after = rng.choice(n, min(b.tasking, n), replace=False)
        extra = rng.integers(3, 9, len(after))
        at = np.repeat(ts[after], extra) + (
            (1 + arrays.position_in_group(extra)) * rng.uniform(2, 15, int(extra.sum())) * US
        ).astype(np.int64)
        up = rng.random(len(at)) < 0.5
        big = rng.lognormal(np.log(400_000), 1.3, len(at)).clip(50_000, 20_000_000).astype(np.int64)
        ts = np.concatenate([ts, at])
        orig = np.concatenate([orig, np.where(up, big, b.orig)])
        resp = np.concatenate([resp, np.where(up, b.resp, big)])
        method = np.concatenate([method, np.where(up, 1, 0)])
    n = len(ts)
    out = web(
        rng,
        w,
        ts=ts,
        src=int(w.hosts.ip[b.host]),
        site=np.full(n, b.site),
        dst=b.dst,
        tls=b.https,
        orig_bytes=orig,
        resp_bytes=resp,
        dport=b.dport,
        lookup=b.lookup,
        duration=(rng.lognormal(np.log(0.4 * US), 0.3, n) + (orig + resp) * 2).astype(np.int64),
        ja3=b.ja3,
        ua=b.ua,
        failures={catalog.RSTR: 0.01},
        ssl_cols={"profile": b.tls_profile, "sni": b.sni},
        http_cols={
            "host": b.host_header,
            "uri": b.uri,
            "method": method,
            "status": 0,
            "referrer": -1,
            "mime": 7,
            "resp_len": np.maximum(resp - 250, 0),
            "req_len": np.where(method == 1, np.maximum(orig - 300, 0), 0),
        },
    )
    out.count(f"beacon:{b.index}", n)
    return out

"""Human web browsing and interactive SaaS use: the bulk, non-periodic traffic of workstations.

Model (per present user and day):
    * Sessions: Poisson(14 x the host's intensity), starting uniformly inside the user's working
      window, with a lunch dip (sessions in the middle 13 % of the window are kept with p = 0.4).
    * Page visits per session: geometric with mean 10, separated by exponential think times
      (mean 45 s). Each visit picks a site from the Zipf catalogue, opens 1 + Poisson(1.6)
      connections to one of the site's addresses and 1 + Poisson(0.6) to third-party
      infrastructure names (CDN/fonts/analytics), all within a few seconds.
    * SaaS apps (mail, documents, file sync, ...): a Poisson stream of ~30 connections an hour
      while the user works, to a handful of very popular CDN-hosted names; and ~6 OCSP checks an
      hour over plain HTTP (user agent Microsoft-CryptoAPI) to three CA responders.
    * Sizes are lognormal (request median ~900 B, response median ~15 kB with a heavy tail),
      durations lognormal (median 2 s); 5 % of connections fail (S0, REJ, RSTO, RSTR, S1).
"""

from __future__ import annotations

import base64

import numpy as np

from winnow.sim import arrays, catalog, internet
from winnow.sim.context import APPS, BROWSING, US, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World
from winnow.sim.web import web

SESSIONS_PER_DAY = 14.0
VISITS_PER_SESSION = 10.0
APP_CONNS_PER_HOUR = 30.0
OCSP_PER_HOUR = 6.0


def plan_browsing(world: World, rng: np.random.Generator, space: AddressSpace) -> None:
    """Register browsers, browsing URIs and SaaS apps; build the Zipf samplers."""
    world.extra["browser_ua"] = np.array([world.add_ua(b[0]) for b in catalog.BROWSERS])
    world.extra["browser_ja3"] = np.array([world.add_ja3(b[1]) for b in catalog.BROWSERS])
    for i in range(600):
        tpl = catalog.URI_TEMPLATES[i % len(catalog.URI_TEMPLATES)]
        world.add_uri(tpl.format(n=int(rng.integers(1, 100000)), h=rng.bytes(4).hex()))
    world.extra["browse_uris"] = len(world.uris)
    kind = world.sites.kind
    browse = np.array([i for i, k in enumerate(kind) if k == internet.BROWSE])
    infra = np.array([i for i, k in enumerate(kind) if k == internet.INFRA])
    world.extra["browse_sites"], world.extra["browse_cdf"] = browse, internet.zipf_cdf(len(browse))
    world.extra["infra_sites"], world.extra["infra_cdf"] = infra, internet.zipf_cdf(len(infra), 0.8)
    apps = []
    for pattern in (
        "outlook.{w}.com",
        "docs.{w}.com",
        "sync.{w}drive.com",
        "teams.{w}.com",
        "crm.{w}.com",
        "calendar.{w}.com",
    ):
        name = internet.unique_name(world, rng, pattern)
        pool = space.cdn[int(rng.integers(len(space.cdn)))]
        ips = [pool[int(i)] for i in rng.choice(len(pool), size=4, replace=False)]
        apps.append(
            internet.add_site(world, rng, name, ips, kind=internet.SERVICE, ttl=60, tls13=True, stack="saas")
        )
    world.extra["app_sites"] = np.array(apps)
    world.extra["app_cdf"] = np.cumsum([0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    ocsp = []
    for _ in range(3):
        pool = space.cdn[int(rng.integers(len(space.cdn)))]
        ips = [pool[int(i)] for i in rng.choice(len(pool), size=3, replace=False)]
        name = internet.unique_name(world, rng, "ocsp.{w}ca.com")
        ocsp.append(
            internet.add_site(world, rng, name, ips, kind=internet.SERVICE, https=False, stack="ocsp")
        )
    world.extra["ocsp_sites"] = np.array(ocsp)
    first = len(world.uris)
    for _ in range(80):
        world.add_uri("/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ" + base64.b64encode(rng.bytes(42)).decode())
    world.extra["ocsp_uris"] = (first, len(world.uris))
    world.extra["cryptoapi_ua"] = world.add_ua(catalog.AGENT_UAS[0])


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int, cap: float) -> np.ndarray:
    return np.minimum(rng.lognormal(np.log(median), sigma, n), cap).astype(np.int64)


def _client(ctx: DayChunk, host: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source IP, JA3 and user agent of local host indexes."""
    w = ctx.world
    browser = w.hosts.browser[ctx.hosts[host]]
    return ctx.ip[host], w.extra["browser_ja3"][browser], w.extra["browser_ua"][browser]


def _pick_ip(rng: np.random.Generator, world: World, site: np.ndarray) -> np.ndarray:
    s = world.sites
    k = (rng.random(len(site)) * s.n_ips_a[site]).astype(np.int64)
    return s.ips_a[s.ip_off_a[site] + k]


def browsing(ctx: DayChunk) -> Traffic:
    """Page visits of every present user of the chunk."""
    rng, w = ctx.rng(BROWSING), ctx.world
    users = np.flatnonzero(ctx.present)
    n_sess = rng.poisson(w.hosts.activity[ctx.hosts[users]] * SESSIONS_PER_DAY)
    host = np.repeat(users, n_sess)
    a, b = ctx.pres_start[host], ctx.pres_end[host]
    rel = rng.random(len(host))
    keep = ~((rel > 0.42) & (rel < 0.55)) | (rng.random(len(host)) < 0.4)
    host, start = host[keep], (a + rel * (b - a))[keep].astype(np.int64)

    n_vis = rng.geometric(1.0 / VISITS_PER_SESSION, len(host))
    gaps = rng.exponential(45.0 * US, int(n_vis.sum())).astype(np.int64)
    gaps[np.cumsum(n_vis) - n_vis] = 0
    v_ts = np.repeat(start, n_vis) + arrays.group_cumsum(gaps, n_vis)
    v_host = np.repeat(host, n_vis)
    in_day = v_ts < ctx.day0 + 86_400 * US
    v_ts, v_host = v_ts[in_day], v_host[in_day]
    v_site = w.extra["browse_sites"][arrays.sample_cdf(rng, w.extra["browse_cdf"], len(v_ts))]
    v_ip = _pick_ip(rng, w, v_site)

    n_main = 1 + rng.poisson(1.6, len(v_ts))
    vi = np.repeat(np.arange(len(v_ts)), n_main)
    offset = np.where(arrays.position_in_group(n_main) == 0, 0, rng.exponential(1.5 * US, len(vi)))
    n_inf = 1 + rng.poisson(0.6, len(v_ts))
    vj = np.repeat(np.arange(len(v_ts)), n_inf)
    inf_site = w.extra["infra_sites"][arrays.sample_cdf(rng, w.extra["infra_cdf"], len(vj))]

    site = np.concatenate([v_site[vi], inf_site])
    dst = np.concatenate([v_ip[vi], _pick_ip(rng, w, inf_site)])
    ts = np.concatenate(
        [v_ts[vi] + offset.astype(np.int64), v_ts[vj] + rng.exponential(2.0 * US, len(vj)).astype(np.int64)]
    )
    hh = np.concatenate([v_host[vi], v_host[vj]])
    n = len(ts)
    s = w.sites
    tls = s.https_a[site] & (~s.http_a[site] | (rng.random(n) < 0.97))
    src, ja3, ua = _client(ctx, hh)
    resp_median = np.where(np.arange(n) < len(vi), 15_000.0, 6_000.0)
    return web(
        rng,
        w,
        ts=ts,
        src=src,
        site=site,
        dst=dst,
        tls=tls,
        orig_bytes=_lognormal(rng, 900, 0.9, n, 5e6),
        resp_bytes=np.minimum(rng.lognormal(np.log(resp_median), 1.7), 5e7).astype(np.int64),
        duration=_lognormal(rng, 2.0 * US, 1.3, n, 600 * US) + 2_000,
        ja3=ja3,
        ua=ua,
        depth2=0.15,
    )


def apps(ctx: DayChunk) -> Traffic:
    """Interactive SaaS connections and certificate status (OCSP over HTTP) checks while users work."""
    rng, w = ctx.rng(APPS), ctx.world
    users = np.flatnonzero(ctx.present)
    span = (ctx.pres_end[users] - ctx.pres_start[users]) / (3600 * US)
    count = rng.poisson(APP_CONNS_PER_HOUR * span * w.hosts.activity[ctx.hosts[users]] ** 0.5)
    host = np.repeat(users, count)
    ts = ctx.pres_start[host] + (rng.random(len(host)) * (ctx.pres_end[host] - ctx.pres_start[host]))
    site = w.extra["app_sites"][arrays.sample_cdf(rng, w.extra["app_cdf"], len(host))]
    src, ja3, ua = _client(ctx, host)
    n = len(host)
    out = web(
        rng,
        w,
        ts=ts.astype(np.int64),
        src=src,
        site=site,
        dst=_pick_ip(rng, w, site),
        tls=True,
        orig_bytes=_lognormal(rng, 1500, 1.0, n, 2e7),
        resp_bytes=_lognormal(rng, 8000, 1.5, n, 5e7),
        duration=_lognormal(rng, 5.0 * US, 1.5, n, 3600 * US) + 2_000,
        ja3=ja3,
        ua=ua,
    )
    host, ts = ctx.poisson_events(rng, OCSP_PER_HOUR * ctx.present, "present")
    n = len(ts)
    site = w.extra["ocsp_sites"][rng.integers(0, len(w.extra["ocsp_sites"]), n)]
    lo, hi = w.extra["ocsp_uris"]
    out.extend(
        web(
            rng,
            w,
            ts=ts,
            src=ctx.ip[host],
            site=site,
            dst=_pick_ip(rng, w, site),
            tls=False,
            orig_bytes=rng.normal(430, 25, n).astype(np.int64),
            resp_bytes=rng.normal(1900, 150, n).astype(np.int64),
            duration=_lognormal(rng, 0.08 * US, 0.6, n, 30 * US) + 1_000,
            ja3=0,
            ua=w.extra["cryptoapi_ua"],
            http_cols={"uri": rng.integers(lo, hi, n), "method": 0, "status": 0, "mime": 10, "referrer": -1},
        )
    )
    return out

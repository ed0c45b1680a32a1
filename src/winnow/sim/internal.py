"""Internal services: what Windows workstations say to the domain controller and file server.

Model (workstations only):
    * Group Policy refresh while the machine is on: every 90 min plus a random 0-30 min offset
      (Windows' default), each refresh = LDAP (2 connections), Kerberos and SMB (SYSVOL) to the DC.
      Periodic-ish, every host, internal: another hard negative.
    * While the user works (Poisson rates per hour): SMB to the file server (4.5), Kerberos TGS
      requests (1.5 TCP + 0.5 UDP), LDAP (2), CLDAP (0.3), DCE-RPC endpoint mapper (0.4) and intranet
      pages over HTTP (1), with lognormal sizes (SMB transfers have the heaviest tail).
"""

from __future__ import annotations

import numpy as np

from winnow.sim import arrays, catalog, internet, transport
from winnow.sim.context import INTERNAL, US, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.network import World
from winnow.sim.web import web

C = catalog.SERVICE_CODE
#: (port, udp, service, per hour while working, orig median, resp median, sigma, duration median s, server)
SESSIONS = (
    (445, False, "gssapi,smb,krb", 4.5, 3000, 20000, 2.0, 10.0, "fs01"),
    (88, False, "krb_tcp", 1.5, 1500, 1400, 0.2, 0.02, "dc01"),
    (88, True, "krb", 0.5, 1300, 1250, 0.2, 0.005, "dc01"),
    (389, False, "ldap_tcp", 2.0, 400, 2500, 0.8, 0.1, "dc01"),
    (389, True, "ldap_udp", 0.3, 220, 450, 0.2, 0.002, "dc01"),
    (135, False, "dce_rpc", 0.4, 1200, 600, 0.5, 0.05, "dc01"),
)


def plan_internal(world: World, rng: np.random.Generator) -> None:
    """Register the intranet web site."""
    name = f"intranet.{catalog.CORP_DOMAIN}"
    world.extra["intranet_site"] = internet.add_site(
        world,
        rng,
        name,
        [world.server_ip["intranet"]],
        kind=internet.SERVICE,
        https=False,
        ttl=1200,
        stack="iis-intranet",
    )


def _session(
    ctx: DayChunk, rng: np.random.Generator, host: np.ndarray, ts: np.ndarray, spec: tuple
) -> Traffic:
    port, is_udp, svc, _, orig, resp, sigma, dur_s, server = spec
    n = len(ts)
    o = np.maximum(rng.lognormal(np.log(orig), sigma, n), 60).astype(np.int64)
    r = np.maximum(rng.lognormal(np.log(resp), sigma, n), 60).astype(np.int64)
    d = np.minimum(rng.lognormal(np.log(dur_s * US), 1.2, n), 8 * 3600 * US).astype(np.int64) + 200
    dst = ctx.world.server_ip[server]
    out = Traffic()
    common = dict(ts=ts, src=ctx.ip[host], dst=dst, dport=port, orig_bytes=o, resp_bytes=r, duration=d,
                  service=C[svc])
    if is_udp:
        out.add("conn", transport.udp(rng, **common))
    else:
        out.add("conn", transport.tcp(rng, **common, failures={catalog.S0: 0.002, catalog.RSTO: 0.01}))
    return out


def internal(ctx: DayChunk) -> Traffic:
    """Domain and file-server traffic of the chunk's workstations."""
    rng, w = ctx.rng(INTERNAL), ctx.world
    out = Traffic()
    ws = ~w.hosts.server[ctx.hosts]
    # Group Policy refresh: 90 min + U(0, 30 min) apart while on.
    on = np.flatnonzero(ws & ctx.on)
    steps = 17
    gaps = (90 * 60 + rng.random((len(on), steps)) * 1800) * US
    gaps[:, 0] = rng.random(len(on)) * 120 * 60 * US
    t = ctx.on_start[on, None] + np.cumsum(gaps, axis=1).astype(np.int64)
    ok = t < ctx.on_end[on, None]
    host, ts = np.repeat(on, ok.sum(axis=1)), t[ok]
    for spec, k in ((SESSIONS[3], 2), (SESSIONS[1], 1), (SESSIONS[0][:8] + ("dc01",), 1)):
        hh = np.repeat(host, k)
        tt = np.repeat(ts, k) + rng.integers(0, 2 * US, len(hh))
        out.extend(_session(ctx, rng, hh, tt, spec))
    # Interactive use while the user works.
    users = ws & ctx.present
    for spec in SESSIONS:
        host, ts = ctx.poisson_events(rng, spec[3] * users, "present")
        out.extend(_session(ctx, rng, host, ts, spec))
    host, ts = ctx.poisson_events(rng, 1.0 * users, "present")
    n = len(ts)
    n_req = 1 + rng.poisson(2.0, n)
    host = np.repeat(host, n_req)
    ts = np.repeat(ts, n_req) + (arrays.position_in_group(n_req) * rng.exponential(2 * US, len(host))).astype(
        np.int64
    )
    browser = w.hosts.browser[ctx.hosts[host]]
    site = np.full(len(ts), w.extra["intranet_site"])
    out.extend(
        web(
            rng,
            w,
            ts=ts,
            src=ctx.ip[host],
            site=site,
            dst=w.server_ip["intranet"],
            tls=False,
            orig_bytes=rng.lognormal(np.log(700), 0.6, len(ts)).astype(np.int64) + 100,
            resp_bytes=rng.lognormal(np.log(25000), 1.2, len(ts)).astype(np.int64),
            duration=rng.lognormal(np.log(0.3 * US), 1.0, len(ts)).astype(np.int64) + 500,
            ja3=w.extra["browser_ja3"][browser],
            ua=w.extra["browser_ua"][browser],
        )
    )
    return out

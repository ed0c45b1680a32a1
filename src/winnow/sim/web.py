"""Web connections to sites: a conn row plus its ssl.log row (HTTPS) or http.log rows (HTTP).

Every caller (browsing, periodic services, C2 beacons) describes connections by site, address, port
and payload sizes; this module fills the application rows from the site's attributes, any column
can be overridden per row (scalar or one value per connection):

    ssl.log  TLS 1.3 sites show no certificate (it is encrypted); TLS 1.2 sites show their chain
             fingerprints and validation status; 15 % of handshakes are resumptions. SNI = the site's
             name, JA3 = the client's stack, JA3S = the server's.
    http.log Host = the site's name, a browsing URI, a status drawn from real-world frequencies, a
             MIME type matching the status, a file id when a body was returned; `depth2` adds a
             second request on some keep-alive connections.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from winnow.sim import catalog, frames, transport
from winnow.sim.frames import Traffic
from winnow.sim.network import World

_SSL, _HTTP = catalog.SERVICE_CODE["ssl"], catalog.SERVICE_CODE["http"]
_TLS13 = (np.array([catalog.TLS13_NEW, catalog.TLS13_NEW_256, catalog.TLS13_RESUMED]), [0.6, 0.25, 0.15])
_TLS12 = (
    np.array([catalog.TLS12_H2, catalog.TLS12_H2_P256, catalog.TLS12_H11, catalog.TLS12_RESUMED]),
    [0.45, 0.25, 0.15, 0.15],
)
_STATUS_P = np.array([s[2] for s in catalog.HTTP_STATUSES])
_MIME_P = np.array([0.35, 0.15, 0.12, 0.05, 0.15, 0.08, 0.10, 0, 0, 0, 0])
_HAS_CERT = np.array([p[7] for p in catalog.TLS_PROFILES])


def _pick(value: Any, idx: np.ndarray) -> Any:
    """Rows `idx` of a per-connection override (scalars pass through)."""
    return value[idx] if isinstance(value, np.ndarray) and value.ndim else value


def web(
    rng: np.random.Generator,
    world: World,
    *,
    ts: np.ndarray,
    src: np.ndarray | int,
    site: np.ndarray,
    dst: np.ndarray | int,
    tls: np.ndarray | bool,
    orig_bytes: np.ndarray,
    resp_bytes: np.ndarray,
    duration: np.ndarray,
    ja3: np.ndarray | int,
    ua: np.ndarray | int,
    failures: dict[int, float] | None = transport.CLIENT_FAILURES,
    lookup: bool = True,
    depth2: float = 0.0,
    dport: np.ndarray | int | None = None,
    ssl_cols: dict[str, Any] | None = None,
    http_cols: dict[str, Any] | None = None,
) -> Traffic:
    """Conn + ssl/http rows for connections to `site` at address `dst` (see module docstring)."""
    sites = world.sites
    n = len(ts)
    site = np.asarray(site, dtype=np.int64)
    tls = np.broadcast_to(np.asarray(tls, dtype=bool), (n,))
    name = sites.name_a[site]
    conn = transport.tcp(
        rng,
        ts=ts,
        src=src,
        dst=dst,
        dport=np.where(tls, 443, 80) if dport is None else dport,
        orig_bytes=orig_bytes,
        resp_bytes=resp_bytes,
        duration=duration,
        service=np.where(tls, _SSL, _HTTP),
        failures=failures,
        name=name if lookup else -1,
    )
    out = Traffic()
    out.add("conn", conn)
    ok = transport.established(conn)
    ssl_cols, http_cols = dict(ssl_cols or {}), dict(http_cols or {})

    i = np.flatnonzero(ok & tls)
    if len(i):
        s = site[i]
        t13 = sites.tls13_a[s]
        profile = np.where(
            t13, rng.choice(_TLS13[0], len(i), p=_TLS13[1]), rng.choice(_TLS12[0], len(i), p=_TLS12[1])
        )
        if "profile" in ssl_cols:
            profile = np.broadcast_to(_pick(ssl_cols.pop("profile"), i), (len(i),))
        certs = _HAS_CERT[profile]
        cols = {
            "profile": profile,
            "sni": name[i],
            "cert": np.where(certs, sites.cert_a[s], -1),
            "valid": np.where(certs, sites.valid_a[s], -1),
            "sni_match": np.where(certs, 1, -1),
            "ja3": _pick(ja3, i),
            "ja3s": sites.ja3s_a[s],
        }
        cols.update({k: _pick(v, i) for k, v in ssl_cols.items()})
        out.add("ssl", frames.derive("ssl", conn, i, **cols))

    i = np.flatnonzero(ok & ~tls)
    if len(i):
        i = np.concatenate([i, i[rng.random(len(i)) < depth2]]) if depth2 else i
        depth = np.ones(len(i), dtype=np.int16)
        depth[len(np.unique(i)) :] = 2
        status = rng.choice(len(_STATUS_P), len(i), p=_STATUS_P / _STATUS_P.sum())
        code = np.array([s[0] for s in catalog.HTTP_STATUSES])[status]
        resp_len = np.where(
            (code == 304) | (code == 204),
            0,
            np.maximum(conn["resp_bytes"][i] - rng.integers(180, 420, len(i)), 0) // depth,
        )
        cols = {
            "trans_depth": depth,
            "method": rng.choice(3, len(i), p=[0.9, 0.07, 0.03]),
            "host": name[i],
            "uri": rng.integers(0, int(world.extra["browse_uris"]), len(i)),
            "referrer": np.where(rng.random(len(i)) < 0.5, name[i], -1),
            "ua": _pick(ua, i),
            "status": status,
            "resp_len": resp_len,
            "mime": np.where(resp_len > 0, rng.choice(len(_MIME_P), len(i), p=_MIME_P / _MIME_P.sum()), -1),
        }
        cols.update({k: _pick(v, i) for k, v in http_cols.items()})
        cols["resp_len"] = np.where(cols["method"] == 2, 0, cols["resp_len"])
        cols["req_len"] = (
            np.where(cols["method"] == 1, rng.integers(80, 4000, len(i)), 0)
            if "req_len" not in http_cols
            else cols["req_len"]
        )
        cols["fuid"] = np.where(
            cols["resp_len"] > 0, rng.integers(1, np.iinfo(np.uint64).max, len(i), dtype=np.uint64), 0
        ).astype(np.uint64)
        delay = rng.integers(5_000, 90_000, len(i)) + (depth - 1) * rng.integers(200_000, 5_000_000, len(i))
        out.add("http", frames.derive("http", conn, i, delay_us=delay, **cols))
    return out

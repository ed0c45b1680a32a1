"""The simulated internet: address space, fictional domain names and the catalogue of sites.

Model:
    * Addresses come from /16 prefixes under routable first octets: ~400 "hosting" prefixes for
      ordinary servers (and, indistinguishably, for attacker infrastructure) and three CDN providers
      with a shared pool of edge addresses. CDN sites draw 2-8 addresses from their provider's pool,
      so one address serves many names and one name resolves to several addresses (fan-out); DNS
      answers for CDN sites start with a CNAME into the provider's domain.
    * Browsing sites are ranked by a Zipf law (exponent 1.05): the top sites are visited by most
      hosts every day, the tail by few. ~40 third-party "infrastructure" names (static content,
      fonts, analytics, ads) are pulled in by page visits on every site.
    * Each site has a TLS stack (TLS 1.3, or TLS 1.2 with a certificate chain that validates), a
      JA3S, a DNS TTL and, for some, IPv6 (AAAA) answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from winnow.sim import catalog
from winnow.sim.network import World

BROWSE, INFRA, SERVICE, RARE = range(4)


@dataclass
class Sites:
    """External endpoints; lists while the world is built, arrays after `freeze`."""

    name: list[int] = field(default_factory=list)
    ip_off: list[int] = field(default_factory=lambda: [0])
    ips: list[int] = field(default_factory=list)
    https: list[bool] = field(default_factory=list)
    http: list[bool] = field(default_factory=list)
    tls13: list[bool] = field(default_factory=list)
    cert: list[int] = field(default_factory=list)
    valid: list[int] = field(default_factory=list)
    ja3s: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.name)

    def freeze(self) -> None:
        """Convert the lists to numpy arrays (same names with an `_a` suffix)."""
        self.name_a = np.asarray(self.name, dtype=np.int32)
        self.ip_off_a = np.asarray(self.ip_off, dtype=np.int64)
        self.ips_a = np.asarray(self.ips, dtype=np.int32)
        self.n_ips_a = np.diff(self.ip_off_a)
        self.https_a = np.asarray(self.https, dtype=bool)
        self.http_a = np.asarray(self.http, dtype=bool)
        self.tls13_a = np.asarray(self.tls13, dtype=bool)
        self.cert_a = np.asarray(self.cert, dtype=np.int32)
        self.valid_a = np.asarray(self.valid, dtype=np.int8)
        self.ja3s_a = np.asarray(self.ja3s, dtype=np.int16)
        self.kind_a = np.asarray(self.kind, dtype=np.int8)


class AddressSpace:
    """Allocates unique public-looking IPv4 (and IPv6) addresses."""

    def __init__(self, world: World, rng: np.random.Generator, n_hosting: int = 400) -> None:
        self.world = world
        self.rng = rng
        octets = np.array(catalog.PUBLIC_FIRST_OCTETS)
        first, second = rng.choice(octets, n_hosting), rng.integers(0, 256, n_hosting)
        self.hosting = [(int(a), int(b)) for a, b in zip(first, second, strict=True)]
        self.cdn: list[list[int]] = []
        self.cdn_domain: list[str] = []
        self.cdn_v6: list[str] = []

    def fresh(self, prefix: tuple[int, int] | None = None) -> int:
        """A new unused address, in `prefix` (a /16) or in a random hosting prefix."""
        while True:
            a, b = prefix or self.hosting[int(self.rng.integers(len(self.hosting)))]
            ip = f"{a}.{b}.{int(self.rng.integers(256))}.{int(self.rng.integers(1, 255))}"
            if not self.world.has_ip(ip):
                return self.world.add_ip(ip)

    def add_cdn(self, domain: str, pool: int) -> None:
        """A CDN provider with `pool` edge addresses in two /16 prefixes of its own."""
        prefixes = [self.hosting[int(i)] for i in self.rng.integers(len(self.hosting), size=2)]
        self.cdn.append([self.fresh(prefixes[i % 2]) for i in range(pool)])
        self.cdn_domain.append(domain)
        self.cdn_v6.append(f"2{self.rng.integers(0x600, 0x6FF):03x}:{self.rng.integers(0x1000, 0xFFFF):04x}")

    def v6(self, provider: int, n: int) -> list[str]:
        """`n` IPv6 addresses in a provider's prefix (only ever shown in AAAA answers)."""
        pre = self.cdn_v6[provider % len(self.cdn_v6)]
        return [f"{pre}::{self.rng.integers(1, 0xFFFF):x}:{self.rng.integers(1, 0xFFFF):x}" for _ in range(n)]


def word(rng: np.random.Generator, parts: tuple[int, int] = (2, 3)) -> str:
    """A pronounceable fictional word."""
    k = int(rng.integers(parts[0], parts[1] + 1))
    return "".join(catalog.SYLLABLES[int(i)] for i in rng.integers(len(catalog.SYLLABLES), size=k))


def unique_name(world: World, rng: np.random.Generator, pattern: str) -> str:
    """A domain name from `pattern` ({w}, {w2}, {tld}, {n}) not registered yet."""
    while True:
        name = pattern.format(
            w=word(rng),
            w2=word(rng, (1, 2)),
            tld=catalog.TLDS[int(rng.integers(len(catalog.TLDS)))],
            n=int(rng.integers(1, 99)),
        )
        if not world.has_name(name):
            return name


def add_site(
    world: World,
    rng: np.random.Generator,
    name: str,
    ips: list[int],
    *,
    kind: int,
    https: bool = True,
    http: bool = False,
    tls13: bool = True,
    ttl: int = 300,
    cname: str | None = None,
    v6: list[str] | None = None,
    valid: int = catalog.VALID_OK,
    stack: str | None = None,
) -> int:
    """Register a site (name, addresses, TLS stack, DNS answers) and return its index."""
    sites: Sites = world.sites
    head = [cname] if cname else []
    a = ",".join(head + [world.ips[i] for i in ips])
    aaaa = ",".join(head + v6) if v6 else None
    sites.name.append(world.add_name(name, ttl=ttl, a=a, aaaa=aaaa))
    sites.ips.extend(ips)
    sites.ip_off.append(len(sites.ips))
    sites.https.append(https)
    sites.http.append(http or not https)
    sites.tls13.append(tls13)
    sites.cert.append(-1 if tls13 and valid == catalog.VALID_OK else world.add_cert(rng))
    sites.valid.append(valid)
    label = stack or f"server-{int(rng.integers(12))}-{'13' if tls13 else '12'}"
    sites.ja3s.append(world.add_ja3(label, server=True))
    sites.kind.append(kind)
    return len(sites) - 1


def build_internet(world: World, rng: np.random.Generator) -> AddressSpace:
    """Create the CDN providers, ~40 infrastructure names and the Zipf-ranked browsing sites."""
    world.sites = Sites()
    space = AddressSpace(world, rng)
    n_sites = 3000 + min(world.n_workstations, 10000) // 2
    for _ in range(3):
        space.add_cdn(unique_name(world, rng, "{w}-edge.net"), pool=300 + n_sites // 20)
    infra_patterns = (
        "static.{w}cdn.net",
        "fonts.{w}.com",
        "cdn.{w}.net",
        "analytics.{w}.com",
        "ads.{w}.net",
        "api.{w}.com",
        "img.{w}.com",
        "tags.{w}.com",
    )
    for i in range(40):
        _cdn_site(world, rng, space, unique_name(world, rng, infra_patterns[i % len(infra_patterns)]), INFRA)
    for rank in range(n_sites):
        pattern = ("www.{w}.{tld}", "{w}.{tld}", "www.{w}{w2}.com", "{w}-{w2}.{tld}")[rank % 4]
        name = unique_name(world, rng, pattern)
        if rng.random() < (0.9 if rank < 300 else 0.25):
            _cdn_site(world, rng, space, name, BROWSE)
        else:
            ips = [space.fresh() for _ in range(1 if rng.random() < 0.8 else 2)]
            https = bool(rng.random() < 0.93)
            add_site(
                world,
                rng,
                name,
                ips,
                kind=BROWSE,
                https=https,
                http=not https or bool(rng.random() < 0.1),
                tls13=bool(rng.random() < 0.6),
                ttl=int(rng.choice([300, 600, 1800, 3600, 86400])),
                v6=space.v6(int(rng.integers(3)), 1) if rng.random() < 0.3 else None,
            )
    return space


def _cdn_site(world: World, rng: np.random.Generator, space: AddressSpace, name: str, kind: int) -> int:
    provider = int(rng.integers(len(space.cdn)))
    pool = space.cdn[provider]
    n = int(rng.integers(2, 9))
    ips = [pool[int(i)] for i in rng.choice(len(pool), size=n, replace=False)]
    cname = (
        f"{name.split('.')[0] if not name.startswith('www.') else name[4:].split('.')[0]}"
        f".{space.cdn_domain[provider]}"
    )
    return add_site(
        world,
        rng,
        name,
        ips,
        kind=kind,
        https=True,
        http=bool(rng.random() < 0.15),
        tls13=bool(rng.random() < 0.8),
        ttl=int(rng.choice([20, 60, 60, 300])),
        cname=cname,
        v6=space.v6(provider, n) if rng.random() < 0.7 else None,
        stack=f"cdn-{provider}",
    )


def zipf_cdf(n: int, exponent: float = 1.05, offset: float = 1.5) -> np.ndarray:
    """Cumulative distribution of a Zipf-like law over ranks 0..n-1."""
    w = 1.0 / (np.arange(n) + offset) ** exponent
    cdf = np.cumsum(w)
    return cdf / cdf[-1]

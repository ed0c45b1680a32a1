"""The simulated company: internal addressing, per-host traits and the string tables of the world.

Model:
    * Servers live in 10.0.0.0/24 (two DNS resolvers, a domain controller, a file server, an
      intranet web server); workstations fill 10.<1+b//256>.<b%256>.10-249, 240 per /24 block `b`.
      The IP table lists every address of those /24s (.1-.254) so scans of empty addresses work.
    * Each host has stable traits: working hours (start ~ N(8.3 h, 0.8 h) UTC, length ~ N(8.5 h, 1 h)),
      a browsing intensity (lognormal), whether the machine stays on at night, its browser, its
      resolver, whether it also asks AAAA, whether its user sometimes works weekends.
    * All other strings (external IPs, DNS names, DNS answers, certificates, JA3s, user agents, URIs)
      are registered in tables here by `internet`, `periodic` and `attacks` while the world is built;
      frames refer to them by index, and `freeze` turns them into Arrow arrays for the writer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.sim import catalog

SERVERS = (
    ("dns01", "10.0.0.53"),
    ("dns02", "10.0.0.54"),
    ("dc01", "10.0.0.10"),
    ("fs01", "10.0.0.20"),
    ("intranet", "10.0.0.80"),
)
HOSTS_PER_BLOCK = 240


def sub_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator derived deterministically from `seed` and an integer key path."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key)))


def workstation_ip(i: int) -> str:
    """Dotted address of workstation number `i`."""
    block, pos = divmod(i, HOSTS_PER_BLOCK)
    return f"10.{1 + block // 256}.{block % 256}.{10 + pos}"


@dataclass
class Hosts:
    """Per-host traits; servers first, then workstations (index = position in every array)."""

    ip: np.ndarray
    server: np.ndarray
    work_start: np.ndarray
    work_len: np.ndarray
    activity: np.ndarray
    always_on: np.ndarray
    browser: np.ndarray
    resolver: np.ndarray
    aaaa: np.ndarray
    weekend_worker: np.ndarray

    def __len__(self) -> int:
        return len(self.ip)

    @classmethod
    def empty(cls) -> Hosts:
        """No hosts (before `build_internal`)."""
        none = np.zeros(0)
        return cls(none, none, none, none, none, none, none, none, none, none)


@dataclass
class World:
    """Everything fixed for a whole simulation; built once, read by every generator."""

    seed: int
    n_workstations: int
    days: int
    start: str
    ips: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    name_ttl: list[int] = field(default_factory=list)
    ans_a: list[int] = field(default_factory=list)
    ans_aaaa: list[int] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    ans_count: list[int] = field(default_factory=list)
    certs: list[str] = field(default_factory=list)
    ja3: list[str] = field(default_factory=list)
    ja3s: list[str] = field(default_factory=list)
    uas: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    server_ip: dict[str, int] = field(default_factory=dict)
    n_internal: int = 0
    hosts: Hosts = field(default_factory=Hosts.empty)
    sites: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    local_extra: list[int] = field(default_factory=list)
    _ip_index: dict[str, int] = field(default_factory=dict)
    _name_index: dict[str, int] = field(default_factory=dict)
    _ja3_index: dict[str, int] = field(default_factory=dict)
    _uri_index: dict[str, int] = field(default_factory=dict)

    # -- registries -------------------------------------------------------------------------------
    def add_ip(self, ip: str) -> int:
        """Index of an IP string, registering it on first use."""
        if ip not in self._ip_index:
            self._ip_index[ip] = len(self.ips)
            self.ips.append(ip)
        return self._ip_index[ip]

    def add_local_ip(self, ip: str) -> int:
        """Index of an internal address registered after `build_internal` (e.g. a subnet broadcast)."""
        i = self.add_ip(ip)
        if i >= self.n_internal:
            self.local_extra.append(i)
        return i

    def has_ip(self, ip: str) -> bool:
        """Whether an address is already in use."""
        return ip in self._ip_index

    def ip_index(self, ip: str) -> int:
        """Index of a registered IP string."""
        return self._ip_index[ip]

    def add_name(self, name: str, ttl: int = 300, a: str | None = None, aaaa: str | None = None) -> int:
        """Register a DNS name with its TTL and A/AAAA answer lists (comma-joined); returns its index."""
        if name in self._name_index:
            return self._name_index[name]
        self._name_index[name] = len(self.names)
        self.names.append(name)
        self.name_ttl.append(int(ttl))
        self.ans_a.append(self._add_answer(a))
        self.ans_aaaa.append(self._add_answer(aaaa))
        return self._name_index[name]

    def has_name(self, name: str) -> bool:
        """Whether a DNS name is already registered."""
        return name in self._name_index

    def _add_answer(self, answer: str | None) -> int:
        if not answer:
            return -1
        self.answers.append(answer)
        self.ans_count.append(answer.count(",") + 1)
        return len(self.answers) - 1

    def add_cert(self, rng: np.random.Generator, chain: int = 2) -> int:
        """A new certificate chain of `chain` SHA-256 fingerprints; returns its index."""
        self.certs.append(",".join(rng.bytes(32).hex() for _ in range(chain)))
        return len(self.certs) - 1

    def add_ja3(self, label: str, server: bool = False) -> int:
        """Index of the JA3 (or JA3S) hash for a stable label, e.g. a client or server stack."""
        table = self.ja3s if server else self.ja3
        key = ("s:" if server else "c:") + label
        if key not in self._ja3_index:
            table.append(hashlib.md5(f"winnow-sim:{key}".encode()).hexdigest())
            self._ja3_index[key] = len(table) - 1
        return self._ja3_index[key]

    def add_ua(self, ua: str) -> int:
        """Index of a user agent string."""
        if ua not in self.uas:
            self.uas.append(ua)
        return self.uas.index(ua)

    def add_uri(self, uri: str) -> int:
        """Index of a URI string."""
        if uri not in self._uri_index:
            self._uri_index[uri] = len(self.uris)
            self.uris.append(uri)
        return self._uri_index[uri]

    # -- derived arrays ---------------------------------------------------------------------------
    def freeze(self) -> None:
        """Turn the registries into the arrays generators and the writer index into."""
        self.ip_str = pa.array(self.ips, pa.string())
        self.name_str = pa.array(self.names, pa.string())
        self.answer_str = pa.array(self.answers or [""], pa.string())
        self.cert_str = pa.array(self.certs or [""], pa.string())
        self.ja3_str = pa.array(self.ja3, pa.string())
        self.ja3s_str = pa.array(self.ja3s, pa.string())
        self.ua_str = pa.array(self.uas, pa.string())
        self.uri_str = pa.array(self.uris, pa.string())
        self.name_ttl_arr = np.asarray(self.name_ttl, dtype=np.int64)
        self.name_len_arr = np.asarray([len(n) for n in self.names], dtype=np.int64)
        self.ans_a_arr = np.asarray(self.ans_a, dtype=np.int32)
        self.ans_aaaa_arr = np.asarray(self.ans_aaaa, dtype=np.int32)
        self.ans_count_arr = np.asarray(self.ans_count or [0], dtype=np.int16)
        self.resolver_of_ip = np.full(self.n_internal, self.server_ip["dns01"], dtype=np.int32)
        self.resolver_of_ip[self.hosts.ip] = self.hosts.resolver
        self.host_of_ip = np.full(self.n_internal, -1, dtype=np.int64)
        self.host_of_ip[self.hosts.ip] = np.arange(len(self.hosts))
        self.is_local = np.zeros(len(self.ips), dtype=bool)
        self.is_local[: self.n_internal] = True
        self.is_local[self.local_extra] = True
        self.is_resolver = np.zeros(len(self.ips), dtype=bool)
        self.is_resolver[[self.server_ip["dns01"], self.server_ip["dns02"]]] = True


def build_internal(world: World, rng: np.random.Generator) -> None:
    """Register internal addresses and draw every host's traits."""
    for role, ip in SERVERS:
        world.server_ip[role] = world.add_ip(ip)
    n = world.n_workstations
    n_blocks = (n + HOSTS_PER_BLOCK - 1) // HOSTS_PER_BLOCK
    for block in range(n_blocks):
        prefix = f"10.{1 + block // 256}.{block % 256}."
        for last in range(1, 255):
            world.add_ip(prefix + str(last))
    world.n_internal = len(world.ips)
    ws_ip = np.array([world.ip_index(workstation_ip(i)) for i in range(n)], dtype=np.int32)
    n_srv = len(SERVERS)
    total = n_srv + n
    server = np.zeros(total, dtype=bool)
    server[:n_srv] = True
    shares = np.array([b[2] for b in catalog.BROWSERS])
    resolver = np.where(rng.random(total) < 0.8, world.server_ip["dns01"], world.server_ip["dns02"])
    resolver[:n_srv] = world.server_ip["dns01"]
    world.hosts = Hosts(
        ip=np.concatenate([np.array([world.server_ip[r] for r, _ in SERVERS], np.int32), ws_ip]),
        server=server,
        work_start=np.clip(rng.normal(8.3, 0.8, total), 6.0, 11.0),
        work_len=np.clip(rng.normal(8.5, 1.0, total), 5.0, 11.0),
        activity=rng.lognormal(0.0, 0.45, total),
        always_on=(rng.random(total) < 0.55) | server,
        browser=rng.choice(len(shares), size=total, p=shares / shares.sum()),
        resolver=resolver.astype(np.int32),
        aaaa=rng.random(total) < 0.5,
        weekend_worker=rng.random(total) < 0.12,
    )

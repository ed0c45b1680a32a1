"""Typed entities of a finding, resolved across sources so one attack's findings land on one entity.

Detectors name their subject in their own way (``10.0.0.5``, ``10.0.0.5:443``, ``src->dst``);
risk needs one name per real thing. Every finding is read for the entities it involves:

========== ====================================================================================
type       what it is, and where it comes from
========== ====================================================================================
host       an internal machine by name: the finding's ``host``, the host of the process named in
           ``evidence.process``, or an internal address whose host the lake knows
ip         an internal address whose host name the lake does not know
user       an account, case-folded, without its domain (``CORP\\Alice`` and ``alice@corp`` are ``alice``);
           a numeric Unix uid is qualified by its host (``lx01/1000``)
process    an executable on a host (``host:image``), from ``evidence.process``
external   an address outside the internal networks (a C2 server, a scanner on the internet)
domain     a name the finding is about (``evidence.server_name``/``host``/``domain``/``query``)
========== ====================================================================================

Internal means what it means to every detector (``networks.internal`` and the sensor's local
flags, :mod:`winnow.detections._networks`). An internal address is resolved to a host name from
the endpoint logs: the local addresses of the connections a host's processes made (``proc.net``,
outbound) and the host named by process attribution in findings. An address two hosts used
(DHCP reassigning it) goes to the host that used it most.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: entity types in the order an analyst is usually asked to look at them
ENTITY_TYPES = ("host", "ip", "user", "process", "external", "domain")

#: evidence keys that name the domain a finding is about
_DOMAIN_KEYS = ("server_name", "domain", "query", "http_host", "name")


@dataclass(frozen=True)
class Entity:
    """One typed entity: ``type`` from :data:`ENTITY_TYPES`, ``value`` as shown."""

    type: str
    value: str

    @property
    def key(self) -> tuple[str, str]:
        return self.type, self.value.lower()


@dataclass
class Resolver:
    """Internal-address test and address → host name map for one lake (see the module docstring)."""

    internal: Any  # callable(address) -> bool
    ip_hosts: dict[str, str] = field(default_factory=dict)

    def address(self, address: str | None) -> Entity | None:
        if not address:
            return None
        if not self.internal(address):
            return Entity("external", address)
        host = self.ip_hosts.get(address)
        return Entity("host", host) if host else Entity("ip", address)

    def learn(self, findings: list[dict[str, Any]]) -> None:
        """Add the address → host pairs that process attribution put in findings (where the lake had none)."""
        seen: Counter[tuple[str, str]] = Counter()
        for finding in findings:
            process = (finding.get("evidence") or {}).get("process")
            if not isinstance(process, dict) or not process.get("host"):
                continue
            address = finding.get("dst") if process.get("side") == "dst" else finding.get("src")
            if address and self.internal(address):
                seen[(address, str(process["host"]))] += 1
        for (address, host), _ in seen.most_common():
            self.ip_hosts.setdefault(address, host)


def user_name(value: Any) -> str | None:
    """``CORP\\Alice``, ``alice@corp.local`` and ``Alice`` are all ``alice``; empty and ``-`` are no user."""
    if value is None:
        return None
    text = str(value).strip()
    if "\\" in text:
        text = text.rsplit("\\", 1)[1]
    if "@" in text:
        text = text.split("@", 1)[0]
    text = text.lower()
    return text if text and text not in ("-", "n/a", "null") else None


def host_name(value: Any) -> str | None:
    """Host names compare case-insensitively; ``WS01.corp.local`` is kept whole (two domains may share WS01)."""
    if value is None:
        return None
    text = str(value).strip().rstrip(".")
    return text.lower() if text and text != "-" else None


def entities_of(finding: dict[str, Any], resolver: Resolver) -> list[Entity]:
    """The distinct entities ``finding`` involves, its actor first."""
    out: list[Entity] = []
    evidence = finding.get("evidence") or {}
    host = host_name(finding.get("host"))
    if host:
        out.append(Entity("host", host))
    for column in ("src", "dst"):
        entity = resolver.address(finding.get(column))
        if entity is not None:
            out.append(entity)
    user = user_name(finding.get("user"))
    if user:
        out.append(Entity("user", user))
    process = evidence.get("process")
    if isinstance(process, dict) and process.get("image"):
        where = host_name(process.get("host"))
        if where:
            out.append(Entity("host", where))
        out.append(Entity("process", f"{where or '?'}:{process['image']}"))
        name = user_name(process.get("user"))
        if name and name.isdigit():
            name = f"{where or '?'}/{name}"  # a Unix uid is only an account on its own host
        if name:
            out.append(Entity("user", name))
    for named in finding.get("entities") or ():  # typed entities a detector names itself (optional field)
        if isinstance(named, dict) and named.get("type") in ENTITY_TYPES and named.get("id"):
            kind, value = named["type"], str(named["id"])
            if kind in ("host", "ip"):
                resolved = resolver.address(value) if kind == "ip" else Entity("host", host_name(value) or value)
                out.append(resolved or Entity(kind, value))
            else:
                out.append(Entity(kind, user_name(value) if kind == "user" else value))
    for key in _DOMAIN_KEYS:
        value = evidence.get(key)
        if isinstance(value, str) and "." in value and not value.replace(".", "").isdigit():
            out.append(Entity("domain", value.lower().rstrip(".")))
            break
    seen: set[tuple[str, str]] = set()
    unique = []
    for entity in out:
        if entity.key not in seen:
            seen.add(entity.key)
            unique.append(entity)
    return unique


def targets_of(finding: dict[str, Any], resolver: Resolver,
               ran_on_host: tuple[str, ...] = ("lateral", "sigma")) -> set[tuple[str, str]]:
    """Keys of the entities ``finding`` names as what was acted on, not who acted.

    The actor is the source (``src``), or the finding's host when it names no source. The
    destination of a finding with a source is its target (the scanned server, the C2 address),
    and so is the host that only logged what a source did to it (the domain controller that
    recorded a spray from a workstation). Findings of the detectors in ``ran_on_host``
    (``risk.ran_on_host``: a remote service, a remote session, a Sigma rule on the host's own events)
    are about what ran on their host: that host counts whole.
    """
    src = resolver.address(finding.get("src"))
    if src is None:
        return set()
    out = set()
    dst = resolver.address(finding.get("dst"))
    if dst is not None and dst.key != src.key:
        out.add(dst.key)
    host = host_name(finding.get("host"))
    if host and ("host", host) != src.key and finding.get("detector") not in ran_on_host:
        out.add(("host", host))
    return out

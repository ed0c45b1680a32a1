"""Which rows of which tables mention an entity: the filters behind the entity page's timeline and graph.

An entity is mentioned by a table through the columns that can name it: addresses (``src_ip``,
``dst_ip``), the host, the user, the image, the domain. A host is also mentioned through the
addresses its processes used (``net.conn_proc``, else ``proc.net``); a process (``host:image``)
through its host and image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: per table: the columns shown on the timeline, and the columns that can name each kind of entity
TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "net.conn": {"show": ("src_ip", "src_port", "dst_ip", "dst_port", "proto", "service", "src_bytes", "dst_bytes",
                          "conn_state"), "address": ("src_ip", "dst_ip")},
    "net.http": {"show": ("src_ip", "dst_ip", "method", "host", "uri", "status", "user_agent"),
                 "address": ("src_ip", "dst_ip"), "domain": ("host",)},
    "net.dns": {"show": ("src_ip", "dst_ip", "query", "qtype_name", "rcode_name"), "address": ("src_ip", "dst_ip"),
                "domain": ("query",)},
    "net.tls": {"show": ("src_ip", "dst_ip", "server_name", "ja3"), "address": ("src_ip", "dst_ip"),
                "domain": ("server_name",)},
    "proc.exec": {"show": ("host", "user", "pid", "image", "command_line", "parent_image"), "host": ("host",),
                  "user": ("user",), "image": ("image",)},
    "proc.net": {"show": ("host", "user", "image", "direction", "src_ip", "src_port", "dst_ip", "dst_port"),
                 "host": ("host",), "user": ("user",), "image": ("image",), "address": ("src_ip", "dst_ip")},
    "auth.logon": {"show": ("host", "user", "outcome", "logon_type", "method", "src_ip", "reason"),
                   "host": ("host",), "user": ("user",), "address": ("src_ip",)},
}


@dataclass
class Subject:
    """An entity as the tables can see it: its addresses, host, user, image and domain (any may be empty)."""

    type: str
    value: str
    addresses: list[str] = field(default_factory=list)
    host: str | None = None
    user: str | None = None
    image: str | None = None
    domain: str | None = None


def subject_of(engine: Any, entity_type: str, value: str, window: Any = None) -> Subject:
    """The :class:`Subject` of a typed entity (a host's addresses are those it used in ``window``)."""
    if entity_type in ("ip", "external"):
        return Subject(entity_type, value, addresses=[value])
    if entity_type == "user":
        return Subject(entity_type, value, user=value.lower())
    if entity_type == "domain":
        return Subject(entity_type, value, domain=value.lower())
    if entity_type == "process":
        host, _, image = value.partition(":")
        return Subject(entity_type, value, host=host.lower(), image=image.lower())
    return Subject(entity_type, value, host=value.lower(), addresses=host_addresses(engine, value, window))


def host_addresses(engine: Any, host: str, window: Any = None) -> list[str]:
    """The local addresses ``host``'s processes used in ``window``, busiest first: from process attribution
    (``net.conn_proc``, which covers every endpoint source), else from ``proc.net``."""
    from winnow.engine import fetch

    table = engine.table("net.conn_proc", window)
    if table is not None:
        side = table.side == "src"
    else:
        table = engine.table("proc.net", window)
        if table is None:
            return []
        side = table.direction == "outbound"
    rows = table.filter((table.host.lower() == host.lower()) & side & table.src_ip.notnull())
    found = fetch(rows.group_by("src_ip").aggregate(n=rows.count())).to_pylist()
    found.sort(key=lambda r: (-r["n"], r["src_ip"]))
    return [r["src_ip"] for r in found if r["src_ip"] not in ("0.0.0.0", "::", "127.0.0.1", "::1")][:8]


def condition(table: Any, name: str, subject: Subject) -> Any:
    """The Ibis filter of ``table``'s rows that mention ``subject``, or None when it cannot."""
    spec = TABLES[name]
    tests = []
    if subject.type == "process":
        if spec.get("host") and spec.get("image"):
            host, image = table[spec["host"][0]].lower(), table[spec["image"][0]].lower()
            tests.append((host == subject.host) & (image == subject.image))
        return _any(tests)
    if subject.addresses:
        tests += [table[c].isin(subject.addresses) for c in spec.get("address", ())]
    if subject.host:
        tests += [table[c].lower() == subject.host for c in spec.get("host", ())]
    if subject.user:
        for c in spec.get("user", ()):
            column = table[c].lower()
            tests.append((column == subject.user) | column.endswith("\\" + subject.user)
                         | column.startswith(subject.user + "@"))
    if subject.domain:
        tests += [table[c].lower() == subject.domain for c in spec.get("domain", ())]
    return _any(tests)


def _any(tests: list[Any]) -> Any:
    if not tests:
        return None
    out = tests[0]
    for test in tests[1:]:
        out = out | test
    return out

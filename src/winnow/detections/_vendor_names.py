"""Which destination addresses serve a listed vendor service (``infrastructure.vendor_services``).

An address is named by what the lake saw for it: the TLS server names and HTTP hosts of any
connection to it. Many vendor channels carry no name (MQTT push on 8883, telemetry without SNI),
so an address with no name of its own takes its /24 neighbours' vendor when at least two other
addresses of that /24 were seen serving names, all under one listed vendor domain and none under
another name (a vendor's own netblock, not shared hosting). The explanation says which.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from winnow.engine import Engine, Window, fetch

if TYPE_CHECKING:
    import ibis.expr.types as ir

_PREFIX = r"^(\d+\.\d+\.\d+)\.\d+$"


@dataclass
class VendorNames:
    """Vendor domain per address (own names) and per IPv4 /24 (neighbours' names)."""

    own: dict[str, tuple[str, str]] = field(default_factory=dict)  # ip -> (vendor domain, a name seen)
    neighbours: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # /24 -> (domain, name, addresses)
    named: set[str] = field(default_factory=set)  # addresses seen with any name

    def lookup(self, ip: str | None) -> tuple[str, str] | None:
        """(vendor domain, how it is known, in words) for ``ip``, or None."""
        if not ip:
            return None
        if ip in self.own:
            domain, name = self.own[ip]
            return domain, f"it serves {name}"
        if ip in self.named or ip.count(".") != 3:
            return None
        prefix = ip.rsplit(".", 1)[0]
        if prefix in self.neighbours:
            domain, name, count = self.neighbours[prefix]
            return domain, f"{count} other addresses of {prefix}.0/24 serve {domain} names such as {name}"
        return None


def _vendor_match(name: ir.StringValue, domains: tuple[str, ...]) -> ir.BooleanValue:
    import ibis

    test = ibis.literal(False)
    for domain in domains:
        test = test | (name == domain) | name.endswith("." + domain)
    return test


#: per engine (a connection, whose tables are fixed at first use): (window, domains) -> names, so the
#: detectors of one run that weigh vendors (beacon, long_conn) read the TLS and HTTP names once
_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vendor_names(engine: Engine, window: Window) -> VendorNames:
    """The addresses of ``engine``'s lake (in ``window``) that serve listed vendor services."""
    from winnow.config import current
    from winnow.detections._infrastructure import VENDOR_SERVICES

    domains = tuple(d.strip().lower().lstrip(".") for d in current().get(VENDOR_SERVICES) if d.strip())
    memo = _MEMO.setdefault(engine, {})
    key = (window.since, window.until, domains)
    if key not in memo:
        memo[key] = _vendor_names(engine, window, domains)
    return memo[key]


def _vendor_names(engine: Engine, window: Window, domains: tuple[str, ...]) -> VendorNames:
    from winnow.detections._infrastructure import vendor_service

    out = VendorNames()
    if not domains:
        return out
    parts = []
    for table, column in (("net.tls", "server_name"), ("net.http", "host")):
        source = engine.table(table, window)
        if source is not None:
            named = source.filter(source.dst_ip.notnull() & source[column].notnull() & (source[column] != ""))
            # a Host header may carry a port, or be an address itself (no name at all)
            name = named[column].lower().re_replace(r":\d+$", "")
            literal = name.re_search(r"^[0-9.]+$|^\[|^[0-9a-f]*:[0-9a-f:]+$")
            parts.append(named.select("dst_ip", name=name).filter(~literal))
    if not parts:
        return out
    names = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    names = names.distinct()
    names = names.mutate(vendor=_vendor_match(names.name, domains), prefix=names.dst_ip.re_extract(_PREFIX, 1))
    per_ip = names.group_by(["dst_ip", "prefix"]).aggregate(
        vendor_name=names.vendor.ifelse(names.name, None).min(), other=(~names.vendor).any())
    # only the /24s where a vendor was seen matter for the neighbours' test: the rest stays in the engine
    vendor_prefixes = per_ip.filter(per_ip.vendor_name.notnull() & per_ip.prefix.notnull()).select("prefix").distinct()
    wanted = per_ip.vendor_name.notnull() | per_ip.prefix.isin(vendor_prefixes.prefix)
    rows = fetch(per_ip.filter(wanted)).to_pylist()
    per_prefix: dict[str, list[tuple[str | None, bool]]] = {}
    for row in rows:
        out.named.add(row["dst_ip"])
        domain = vendor_service(row["vendor_name"]) if row["vendor_name"] else None
        if domain and not row["other"]:
            out.own[row["dst_ip"]] = (domain, row["vendor_name"])
        if row["prefix"]:
            per_prefix.setdefault(row["prefix"], []).append((domain, bool(row["other"])))
    for prefix, seen in per_prefix.items():
        vendors = {d for d, _ in seen}
        if len(seen) >= 2 and len(vendors) == 1 and None not in vendors and not any(o for _, o in seen):
            domain = next(iter(vendors))
            example = next(n for ip, (d, n) in out.own.items() if d == domain and ip.startswith(prefix + "."))
            out.neighbours[prefix] = (domain, example, len(seen))
    return out

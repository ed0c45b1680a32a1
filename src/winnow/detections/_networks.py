"""Address-in-network tests on string IP columns, as Ibis expressions that run on every engine.

Engines have no common CIDR type, so a network becomes string tests on the address text:
an IPv4 network is a set of dotted prefixes (``10.``, ``172.16.`` .. ``172.31.``) or, past a /24,
a set of exact addresses; an IPv6 network is a set of text prefixes over its leading hextets (in
lower and upper case), or an exact address. That covers every IPv4 network and the IPv6 networks
that matter here (``fc00::/7``, ``fe80::/10``, ``ff00::/8``, ``2001:db8::/32``, ``::1``); other
IPv6 networks are a user error. Only prefix and equality tests are used: they are the cheapest
string tests on every engine, which matters at tens of millions of rows.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from winnow.errors import WinnowError

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: the private address space: RFC 1918 IPv4 and unique-local IPv6 (the default "internal" networks)
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")

#: addresses that are never an external peer: loopback, link-local, multicast, broadcast, unspecified
NOT_ROUTED = (
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
)


def _v4_tests(net: ipaddress.IPv4Network) -> tuple[list[str], list[str]]:
    """(prefixes, exact addresses) whose union is exactly ``net``."""
    if net.prefixlen == 0:
        return [""], []
    octets = str(net.network_address).split(".")
    if net.prefixlen > 24:
        return [], [str(a) for a in net]
    full, part = divmod(net.prefixlen, 8)
    head = ".".join(octets[:full])
    if part == 0:
        return [head + "."], []
    first = int(octets[full])
    values = range(first, first + 2 ** (8 - part))
    return [(head + "." if head else "") + f"{v}." for v in values], []


def _v6_tests(net: ipaddress.IPv6Network) -> tuple[list[str], list[str]]:
    """(prefixes, exact addresses) for an IPv6 network; raises for shapes text prefixes cannot express.

    Leading full hextets are matched with their colon (``2001:db8:``); a partial hextet by its
    leading hex digits (``fc``/``fd`` for ``fc00::/7``), which assumes the address's first hextet
    has four digits, true for every address outside the reserved ``::/4`` with a short first hextet.
    """
    if net.prefixlen == 128:
        return [], [net.network_address.compressed]
    if net.prefixlen == 0:
        return [], []
    hextets = [int(h, 16) for h in net.network_address.exploded.split(":")]
    full, part = divmod(net.prefixlen, 16)
    if any(h == 0 for h in hextets[:full]) or (part and hextets[full] < 0x1000):
        raise WinnowError(f"IPv6 network {net} cannot be matched on address text; use a wider network")
    head = "".join(f"{h:x}:" for h in hextets[:full])
    if part == 0:
        return [head], []
    digits = (part + 3) // 4
    values = sorted({f"{v:04x}"[:digits] for v in range(hextets[full], hextets[full] + 2 ** (16 - part))})
    return [head + v for v in values], []


def in_networks(column: ir.StringValue, cidrs: tuple[str, ...] | list[str]) -> ir.BooleanValue:
    """Ibis expression: ``column`` (an address as text) lies in one of ``cidrs``.

    Only prefix and equality tests (IPv6 prefixes in lower and upper case): they are the cheapest
    string tests on every engine, which matters at tens of millions of rows.
    """
    import ibis

    prefixes: list[str] = []
    exact: list[str] = []
    tests: list[ir.BooleanValue] = []
    for text in cidrs:
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError as exc:
            raise WinnowError(f"bad network {text!r}: {exc}") from None
        if isinstance(net, ipaddress.IPv4Network):
            p, e = _v4_tests(net)
            if p == [""]:
                tests.append(column.re_search(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$"))
                continue
        else:
            p, e = _v6_tests(net)
            if net.prefixlen == 0:
                tests.append(column.contains(":"))
            p = p + [x.upper() for x in p if x.upper() != x]
            e = e + [x.upper() for x in e if x.upper() != x]
        prefixes += p
        exact += e
    tests = [column.startswith(p) for p in sorted(set(prefixes))] + tests
    if exact:
        tests.append(column.isin(sorted(set(exact))))
    if not tests:
        return ibis.literal(False)
    out = tests[0]
    for t in tests[1:]:
        out = out | t
    return out


def in_networks_py(address: str, cidrs: tuple[str, ...] | list[str]) -> bool:
    """The same test in Python (for explanations and tests)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cidrs)

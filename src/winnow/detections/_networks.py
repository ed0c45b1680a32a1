"""What "internal" means, once for every detector, and the address tests behind it.

**Internal** (:func:`is_internal`): the sensor's own verdict where it has one -- Zeek's
``local_orig`` / ``local_resp`` -- else the address lies in ``networks.internal``, the configuration
in force (RFC 1918, unique-local IPv6 and link-local by default), read when a detector runs.
Flow records (NetFlow, IPFIX, Argus) carry no verdict, so there the networks decide.

A sensor's verdicts count only when it marks at least one end of one connection in the window
local (:func:`local_flags`). Zeek sets the flags from ``Site::local_nets``; left unset, they are
empty, but pipelines that fill missing fields write F, and a ``local_nets`` that misses the
monitored hosts also gives F everywhere. Believing such a sensor would make nobody internal, so
its flags are set aside (per sensor, so one misconfigured sensor does not spoil the others) and
the networks decide for its rows. Believed flags win over the networks, both ways: a public
address the sensor calls local is internal, a private one it calls remote is not.

Logs without flags (``net.dns``, ``net.tls``, ``net.http``) take the sensor's verdict on an
address from the connections (:func:`sensor_verdicts`: the addresses where believed flags and
networks disagree, usually none or a handful), so an address is internal in every table alike.

**Address tests** (:func:`in_networks`): engines have no common CIDR type, so a network becomes
string tests on the address text: an IPv4 network is a set of dotted prefixes (``10.``,
``172.16.`` .. ``172.31.``) or, past a /24, a set of exact addresses; an IPv6 network is a set of
text prefixes over its leading hextets (in lower and upper case), or an exact address. That covers
every IPv4 network and the IPv6 networks that matter here (``fc00::/7``, ``fe80::/10``,
``ff00::/8``, ``2001:db8::/32``, ``::1``); other IPv6 networks are a user error. Only prefix and
equality tests are used: they are the cheapest string tests on every engine, which matters at tens
of millions of rows. :func:`in_networks_py` and :func:`is_internal_py` are the same tests in
Python, for explanations; they agree with the engines on every string, odd ones included.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from winnow.errors import WinnowError

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: the setting every detector reads
SETTING = "networks.internal"

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

_DIGITS = tuple("0123456789")


@dataclass(frozen=True)
class _Tests:
    """The text tests whose union is a set of networks.

    ``any_v4`` (``0.0.0.0/0``) is text that starts with a digit and has no colon; ``any_v6``
    (``::/0``) is text with a colon.
    """

    prefixes: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    any_v4: bool = False
    any_v6: bool = False


def _v4_tests(net: ipaddress.IPv4Network) -> tuple[list[str], list[str]]:
    """(prefixes, exact addresses) whose union is exactly ``net`` (not called for /0)."""
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


@functools.lru_cache(maxsize=64)
def _compile(cidrs: tuple[str, ...]) -> _Tests:
    """The text tests of ``cidrs``; a user error for a bad network."""
    prefixes: set[str] = set()
    exact: set[str] = set()
    any_v4 = any_v6 = False
    for text in cidrs:
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError as exc:
            raise WinnowError(f"bad network {text!r}: {exc}") from None
        if net.prefixlen == 0:
            any_v4 |= net.version == 4
            any_v6 |= net.version == 6
            continue
        p, e = _v4_tests(net) if isinstance(net, ipaddress.IPv4Network) else _v6_tests(net)
        prefixes.update(p + [x.upper() for x in p])
        exact.update(e + [x.upper() for x in e])
    return _Tests(tuple(sorted(prefixes)), tuple(sorted(exact)), any_v4, any_v6)


def _any_prefix(column: ir.StringValue, prefixes: list[str], known: str = "") -> ir.BooleanValue:
    """``column`` starts with one of ``prefixes`` (all of which start with ``known``, which ``column`` does).

    Factored like a trie: ``1`` and then ``10.``, ``169.254.``, ``172.`` (and then ``172.16.`` ..)
    or ``192.168.``, so an address that matches no prefix fails after a test or two per group
    instead of one test per prefix.
    """
    if known in prefixes:
        import ibis

        return ibis.literal(True)
    groups: dict[str, list[str]] = {}
    for p in prefixes:
        groups.setdefault(p[len(known)], []).append(p)
    terms = []
    for group in groups.values():
        common = os.path.commonprefix(group)
        if len(group) == 1:
            terms.append(column.startswith(common))
        else:
            terms.append(column.startswith(common) & _any_prefix(column, group, common))
    out = terms[0]
    for term in terms[1:]:
        out = out | term
    return out


def in_networks(column: ir.StringValue, cidrs: tuple[str, ...] | list[str]) -> ir.BooleanValue:
    """Ibis expression: ``column`` (an address as text) lies in one of ``cidrs``; false for null.

    Null-safe by ``column IS NOT NULL AND ...``, not by COALESCE, which keeps DuckDB from
    short-circuiting the tests (4x slower on a filter over every connection).
    """
    return column.notnull() & _in_networks(column, cidrs)


def _in_networks(column: ir.StringValue, cidrs: tuple[str, ...] | list[str]) -> ir.BooleanValue:
    """:func:`in_networks` without the null guard (null for a null address)."""
    import ibis

    t = _compile(tuple(cidrs))
    tests = [_any_prefix(column, list(t.prefixes))] if t.prefixes else []
    if t.exact:
        tests.append(column.isin(list(t.exact)))
    if t.any_v4:
        digit = column.startswith(_DIGITS[0])
        for d in _DIGITS[1:]:
            digit = digit | column.startswith(d)
        tests.append(digit & ~column.contains(":"))
    if t.any_v6:
        tests.append(column.contains(":"))
    if not tests:
        return ibis.literal(False)
    out = tests[0]
    for test in tests[1:]:
        out = out | test
    return out


def in_networks_py(address: str | None, cidrs: tuple[str, ...] | list[str]) -> bool:
    """The same test in Python: the same text tests, so it agrees with the engines on any string."""
    if not address:
        return False
    t = _compile(tuple(cidrs))
    return (
        address.startswith(t.prefixes)
        or address in t.exact
        or (t.any_v4 and address.startswith(_DIGITS) and ":" not in address)
        or (t.any_v6 and ":" in address)
    )


def validate(cidrs: tuple[str, ...] | list[str]) -> None:
    """Raise a user error naming the first network of ``cidrs`` that cannot be tested on address text."""
    _compile(tuple(cidrs))


# -- internal ---------------------------------------------------------------------------------

def internal_networks() -> tuple[str, ...]:
    """The ``networks.internal`` setting of the configuration in force (checked: every network can be tested)."""
    from winnow.config import current

    cidrs = tuple(current().get(SETTING))
    try:
        _compile(cidrs)
    except WinnowError as exc:
        raise WinnowError(f"{SETTING}: {exc}") from None
    return cidrs


@dataclass(frozen=True)
class Verdicts:
    """Addresses on which the believed flags overrule ``networks.internal``, for logs without flags.

    ``local``: marked local though outside the networks; ``remote``: never marked local though
    inside them. Usually empty or a handful; see :func:`sensor_verdicts`.
    """

    local: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()


#: past this many addresses a verdict list is joined as a table rather than written as literals
_LITERALS = 1000


def _member(ip: ir.StringValue, values: tuple[str, ...]) -> ir.BooleanValue:
    import ibis

    if len(values) <= _LITERALS:
        return ip.isin(list(values))
    return ip.isin(ibis.memtable({"address": list(values)}).address)


def is_internal(ip: ir.StringValue, local_flag: ir.BooleanValue | None = None,
                verdicts: Verdicts | None = None) -> ir.BooleanValue:
    """Ibis expression: the sensor's ``local_flag`` where it is not null, else ``ip`` in ``networks.internal``.

    Never null. Pass a flag only after :meth:`LocalFlags.apply` has set aside sensors whose flags
    say nothing; pass ``verdicts`` for logs without flags, so that an address is internal there as
    it is in the connections.
    """
    import ibis

    inner = _in_networks(ip, internal_networks())
    if verdicts is not None and verdicts.local:
        inner = inner | _member(ip, verdicts.local)
    if verdicts is not None and verdicts.remote:
        inner = inner & ~_member(ip, verdicts.remote)
    by_address = ip.notnull() & inner
    # CASE rather than COALESCE: DuckDB short-circuits the address tests inside a CASE only
    return by_address if local_flag is None else ibis.cases((local_flag.isnull(), by_address), else_=local_flag)


def is_internal_py(address: str | None, local_flag: bool | None = None, verdicts: Verdicts | None = None) -> bool:
    """:func:`is_internal` in Python (for explanations and tests)."""
    if local_flag is not None:
        return bool(local_flag)
    if address is None:
        return False
    local = in_networks_py(address, internal_networks()) or (verdicts is not None and address in verdicts.local)
    return local and not (verdicts is not None and address in verdicts.remote)


@dataclass(frozen=True)
class LocalFlags:
    """Which sensors' ``local_orig`` / ``local_resp`` a detector believes over one window.

    ``trusted``: sensors that marked at least one end of a connection local. ``ignored``: sensors
    that wrote flags but never a true one. ``None`` stands for rows without a sensor name.
    Sensors that wrote no flags at all (flow records) are in neither: their nulls stay null.
    """

    trusted: tuple[str | None, ...] = ()
    ignored: tuple[str | None, ...] = ()

    def apply(self, table: ir.Table) -> ir.Table:
        """``table`` with the flags of ignored sensors set to null, so that the networks decide for their rows."""
        import ibis

        if not self.ignored:
            return table
        none = ibis.null("boolean")
        if not self.trusted:
            return table.mutate(local_orig=none, local_resp=none)
        names = [s for s in self.trusted if s is not None]
        keep = table.sensor.isin(names) if names else ibis.literal(False)
        if None in self.trusted:
            keep = keep | table.sensor.isnull()
        keep = keep.fill_null(False)
        return table.mutate(local_orig=keep.ifelse(table.local_orig, none),
                            local_resp=keep.ifelse(table.local_resp, none))


def local_flags(*tables: ir.Table | None) -> LocalFlags:
    """Measure, per sensor, whether its flags can be believed, over ``tables`` (``net.conn`` and kin).

    One small query per table (a per-sensor aggregate of two boolean columns); ``None`` tables are skipped.
    """
    from winnow.engine import fetch

    marked: dict[str | None, bool] = {}
    for table in tables:
        if table is None:
            continue
        local = (table.local_orig | table.local_resp).fill_null(False)
        flagged = table.local_orig.notnull() | table.local_resp.notnull()
        per = table.group_by("sensor").aggregate(local=local.any(), flagged=flagged.any())
        for row in fetch(per).to_pylist():
            if row["flagged"]:
                marked[row["sensor"]] = marked.get(row["sensor"], False) or bool(row["local"])
    order = sorted(marked, key=lambda s: (s is not None, s or ""))
    return LocalFlags(tuple(s for s in order if marked[s]), tuple(s for s in order if not marked[s]))


def sensor_verdicts(conn: ir.Table | None, flags: LocalFlags | None = None) -> Verdicts:
    """What the believed flags of ``conn`` say about addresses, where it differs from ``networks.internal``.

    An address is local when any believed flag marks it local at either end of a connection.
    One aggregate over the connections (skipped when no sensor is believed); ``flags`` are
    measured on ``conn`` when not given.
    """
    if conn is None:
        return Verdicts()
    flags = flags or local_flags(conn)
    if not flags.trusted:
        return Verdicts()
    from winnow.engine import fetch

    applied = flags.apply(conn)
    ends = [applied.filter(applied[flag].notnull() & applied[column].notnull())
            .select(address=applied[column], local=applied[flag])
            for column, flag in (("src_ip", "local_orig"), ("dst_ip", "local_resp"))]
    both = ends[0].union(ends[1], distinct=True)
    per = both.group_by("address").aggregate(local=both.local.any())
    per = per.filter(per.local != in_networks(per.address, internal_networks()))
    rows = fetch(per.order_by("address")).to_pylist()
    local = tuple(r["address"] for r in rows if r["local"])
    return Verdicts(local, tuple(r["address"] for r in rows if not r["local"]))

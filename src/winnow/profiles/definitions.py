"""What is profiled: an entity's metric per hour over one lake table, with an optional row filter.

In the spirit of Apache Metron's Profiler: a profile is (name, table, entity column, metric, filter).
The metric is ``count``, ``sum:<column>`` or ``distinct:<column>``; the filter is ``column=value`` or
``column!=value`` (the value one or several, ``a|b|c``), conditions joined by ``&`` (empty: every
row). Connections (``net.conn``) are read oriented
(:mod:`winnow.detections._orient`): bytes out are what the host that opened the connection sent.
Users add their own in the configuration (``profiles.custom``: a list of [name, table, entity,
metric, filter, unit, floor] records; ``floor`` is the least excess over the expected value that can be
an anomaly, in the unit). The per-host network profiles keep internal addresses only
(``networks.internal``); failed logons per source keep every source, outside ones first of all, and
a source never seen before is compared with all sources (``population``): most attacking sources
have no history of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir

from winnow.errors import WinnowError


@dataclass(frozen=True)
class Profile:
    name: str
    table: str
    entity: str
    metric: str  # count | sum:<column> | distinct:<column>
    filter: str = ""  # column=value | column!=value | "" (value: one or several, a|b|c); conditions joined by &
    unit: str = "events"
    floor: float = 10.0  # least excess over the expected value that can be an anomaly, in ``unit``
    internal_only: bool = False  # entities are addresses, and only the internal ones are profiled
    population: bool = False  # an entity without history of its own is compared with all of them
    rare_hours: bool = False  # activity at an hour far from any hour of the entity's history is itself anomalous
    peers_by: str = ""  # entities sharing a value of this column (users of one host) are peers: their hours are usual

    def rows(self, table: ir.Table) -> ir.Table:
        """``table``'s rows this profile counts (every condition of the filter, joined by ``&``)."""
        for condition in filter(None, (c.strip() for c in self.filter.split("&"))):
            negate = "!=" in condition
            column, value = (part.strip() for part in condition.split("!=" if negate else "=", 1))
            if column not in table.columns:
                raise WinnowError(f"profile {self.name}: filter column {column!r} is not in {self.table}")
            test = table[column].cast("string").isin([v.strip() for v in value.split("|")]).fill_null(False)
            table = table.filter(~test if negate else test)
        return table

    def value(self, rows: ir.Table) -> ir.NumericValue:
        """The metric over ``rows`` (an aggregation)."""
        kind, _, column = self.metric.partition(":")
        if kind == "count":
            return rows.count()
        if column not in rows.columns:
            raise WinnowError(f"profile {self.name}: metric column {column!r} is not in {self.table}")
        if kind == "sum":
            return rows[column].sum()
        if kind == "distinct":
            return rows[column].nunique()
        raise WinnowError(f"profile {self.name}: metric {self.metric!r} is not count, sum:<column> or "
                          "distinct:<column>")


BUILTIN: tuple[Profile, ...] = (
    Profile("bytes_out", "net.conn", "src_ip", "sum:src_bytes", unit="bytes", floor=10e6, internal_only=True),
    Profile("destinations", "net.conn", "src_ip", "distinct:dst_ip", unit="destinations", internal_only=True),
    Profile("dst_ports", "net.conn", "src_ip", "distinct:dst_port", unit="destination ports", internal_only=True),
    Profile("dns_queries", "net.dns", "src_ip", "count", unit="DNS queries", floor=100, internal_only=True),
    Profile("logons", "auth.logon", "user", "count", "outcome=success", unit="logons"),
    Profile("logon_hosts", "auth.logon", "user", "distinct:host", "outcome=success", unit="hosts logged on to"),
    Profile("interactive_logons", "auth.logon", "user", "count", "outcome=success&logon_type=2|10|11|ssh|console",
            unit="interactive logons", rare_hours=True, peers_by="host"),
    Profile("failed_logons", "auth.logon", "src_ip", "count", "outcome=failure", unit="failed logons",
            population=True),
    Profile("processes", "proc.exec", "host", "count", unit="processes started"),
)


def profiles() -> tuple[Profile, ...]:
    """The built-in profiles named in ``profiles.builtin`` and the user's ``profiles.custom``."""
    from winnow.config import current

    config = current()
    wanted = set(config.get("profiles.builtin"))
    out = [p for p in BUILTIN if p.name in wanted]
    for record in config.get("profiles.custom"):
        if not 4 <= len(record) <= 7:
            raise WinnowError(f"profiles.custom: {list(record)!r} is not [name, table, entity, metric, filter, unit, "
                              "floor]")
        fields = [str(v) for v in record[:6]]
        out.append(Profile(*fields, floor=float(record[6])) if len(record) == 7 else Profile(*fields))
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise WinnowError(f"profiles: a name is used twice: {names}")
    return tuple(out)

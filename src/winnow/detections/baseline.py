"""Baselines: an entity's hour against its own history at that hour of day, its peers, and explained.

Reads the hourly profiles (:mod:`winnow.profiles`, brought up to date first, only new days read). For
each profile, entity and hour of the window, the **baseline** is the entity's own values at the same
hour of day on its last ``history_days`` days before (zero where the entity was active that day but not
that hour; days it was not seen at all are left out; looking back at most ``lookback`` × that), judged
on a log scale (``ln(1 + value)``) since volumes are heavy-tailed:

* **expected** = the median, **spread** = 1.4826 × the median absolute deviation (at least
  ``min_spread``), **z** = (observed − expected) / spread, with at least ``min_history`` days behind it;
* **seasonal**: weekdays are compared with weekdays and weekend days with weekend days (a quiet
  Saturday morning is not a weekday's), and an hour's history takes, each day, the largest of that hour
  and the ``neighbour_hours`` either side of it (a day that starts an hour early is not an anomaly at
  8 o'clock; a burst at 2 in the night still is);
* **adaptive**: only the last ``history_days`` days count, so a host whose normal traffic grows is
  followed once most of its history has grown;
* **guard**: days are judged in order, and an hour that was above ``guard_z`` against its own baseline
  when it happened never enters a later baseline: an attacker ramping exfiltration up 20 % a day is
  admitted only while each step is small against a baseline that lags a week behind, and once the ramp
  outruns it the baseline stops following (a slow, steady growth of normal traffic stays within
  ``guard_z`` and is followed);
* **peers**: an entity of an asset group of the configuration (``profiles.peer_groups``: CIDRs, or
  shell patterns of host and user names) is shown its group's median at that hour, and judged against
  its group when it has no history of its own (a new kiosk is compared with the other kiosks); an
  address outside every group is shown the median of its /24 (``peer_prefix``).

For profiles marked ``rare_hours`` (interactive logons per user), activity at an hour with no activity
within ``hour_margin`` hours of it on any of the entity's history days (at least ``min_history`` of them)
is anomalous whatever its volume — "jdoe logged on by remote desktop at 03:20; in 14 weekdays of history
jdoe's logons were between 08:00 and 17:00" — scored ``rare_hour_score``. Its **peers** (``peers_by``:
the other users of the hosts it logged on to in the window) lend it their hours: a shift worker moving
from the early to the late shift at a kiosk where the late shift logs on every day is not an alert.

For profiles marked ``population`` (failed logons per source), an entity with fewer than
``min_history`` days of its own (a source never seen before) is compared with every entity of the
profile at that hour of day over the same days; elsewhere it is not judged until it has a history.
An hour is anomalous when z >= ``z_threshold``, the observed value is at least ``min_ratio`` times the
expected one and exceeds it by the profile's ``floor`` (10 events; 10 MB for bytes out), so "3 logons
instead of 1" or one large download at a quiet hour is not an alert. All anomalous hours of one entity
on one day become **one finding**: the strongest hour's score (``z_threshold`` -> 0.6, ``z_high`` -> 0.8,
up to 0.9), plus ``more_weight`` per further profile that is off, each profile's z as a component, the
hours as evidence.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from winnow.addresses import is_address
from winnow.detections._assets import in_assets
from winnow.detections._networks import in_networks_py
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

_TABLES = ("net.conn", "net.dns", "auth.logon", "proc.exec")


@register
class Baseline(Detector):
    """Args:
    history_days: days of history before each observed day that make its baseline.
    min_history: days of history an entity needs at that hour of day before it is judged.
    lookback: how far back (in multiples of history_days) the last history_days admitted days are looked for.
    z_threshold: robust z (log scale) from which an hour is anomalous (medium).
    z_high: robust z from which an hour is high.
    min_spread: least spread on the log scale (a very regular entity is not an alert for every wobble).
    guard_z: hours beyond this robust z when they happened never enter a later baseline (slow attacks stay out).
    min_ratio: an anomalous hour is at least this many times its expected value.
    peer_prefix: prefix length of an address's peer group (its /24).
    more_weight: added for each further profile off on the same entity and day.
    neighbour_hours: hours either side of an hour whose values (the largest) its history also takes.
    hour_margin: hours either side of an hour of history that still count as usual (profiles judged by the hour).
    rare_hour_score: score of activity at an hour far from any of the entity's usual hours.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "baseline"
    description: ClassVar[str] = (
        "hours far above an entity's own history at that hour of day (bytes out, destinations, ports, DNS, logons, "
        "failed logons, processes), with what was expected and what its peers did"
    )
    tables: ClassVar[tuple[str, ...]] = _TABLES

    def __init__(self, history_days: int = 14, min_history: int = 5, lookback: int = 4, z_threshold: float = 4.0,
                 z_high: float = 8.0, min_spread: float = 0.35, guard_z: float = 3.0, min_ratio: float = 3.0,
                 peer_prefix: int = 24, more_weight: float = 0.05, neighbour_hours: int = 1, hour_margin: int = 3,
                 rare_hour_score: float = 0.6, limit: int = 500) -> None:
        self.history_days = history_days
        self.min_history = min_history
        self.lookback = lookback
        self.z_threshold = z_threshold
        self.z_high = z_high
        self.min_spread = min_spread
        self.guard_z = guard_z
        self.min_ratio = min_ratio
        self.peer_prefix = peer_prefix
        self.more_weight = more_weight
        self.neighbour_hours = neighbour_hours
        self.hour_margin = hour_margin
        self.rare_hour_score = rare_hour_score
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        from winnow.profiles import profiles, read_profile, update_profiles

        chosen = profiles()
        groups = _asset_groups()
        update_profiles(engine, chosen)
        hits: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
        for profile in chosen:
            since = window.since - dt.timedelta(days=self.lookback * self.history_days) if window.since else None
            rows = read_profile(engine.lake.root, profile.name, since, window.until)
            if rows.num_rows:
                peers = self._peer_groups(engine, profile, since, window.until) if profile.peers_by else {}
                for hit in self._judge(profile, rows, window, peers, groups):
                    hits[(hit["entity"], hit["hour"].date())].append(hit)
        findings = [self._finding(entity, day, hs) for (entity, day), hs in hits.items()]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _peer_groups(self, engine: Engine, profile: Any, since: dt.datetime | None,
                     until: dt.datetime | None) -> dict[str, set[str]]:
        """Entity -> the other entities sharing a ``peers_by`` value with it (users of the same hosts)."""
        table = engine.table(profile.table, Window(since=since, until=until))
        if table is None or profile.peers_by not in table.columns or profile.entity not in table.columns:
            return {}
        rows = profile.rows(table)
        pairs = rows.filter(rows[profile.entity].notnull() & rows[profile.peers_by].notnull())
        pairs = pairs.select(e=pairs[profile.entity].cast("string"), g=pairs[profile.peers_by].cast("string"))
        members: dict[str, set[str]] = defaultdict(set)
        for r in fetch(pairs.distinct()).to_pylist():
            members[r["g"]].add(r["e"])
        groups: dict[str, set[str]] = defaultdict(set)
        for who in members.values():
            for e in who:
                groups[e] |= who - {e}
        return groups

    def _judge(self, profile: Any, rows: Any, window: Window, peers: dict[str, set[str]] | None = None,
               groups: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> list[dict[str, Any]]:
        entities = rows["entity"].to_pylist()
        hours = rows["hour"].to_pylist()
        values = rows["value"].to_numpy(zero_copy_only=False).astype(float)
        first = min(hours).date()
        days = (max(hours).date() - first).days + 1
        index = {e: i for i, e in enumerate(sorted(set(entities)))}
        grid = np.full((len(index), days, 24), np.nan)
        for e, h, v in zip(entities, hours, values, strict=True):
            grid[index[e], (h.date() - first).days, h.hour] = v
        active = ~np.all(np.isnan(grid), axis=2)  # the entity was seen that day
        grid = np.where(np.isnan(grid) & active[:, :, None], 0.0, grid)
        logs = np.log1p(grid)
        names = sorted(index, key=index.get)
        group_of: dict[str, str | None] = {}
        for n in names:
            group_of[n] = next((g for g, patterns in groups if in_assets(n, patterns, is_address(n))), None)
        members = defaultdict(list)
        for n, g in group_of.items():
            if g:
                members[g].append(index[n])
        weekend = np.array([(first + dt.timedelta(days=d)).weekday() >= 5 for d in range(days)])
        admitted = np.ones(logs.shape, dtype=bool)  # the guard: hours that were anomalous when they happened stay out
        out = []
        for d in (int(i) for i in np.nonzero(active.any(axis=0))[0]):  # days without data judge and teach nothing
            lo = max(0, d - self.lookback * self.history_days)
            if d < self.min_history:
                continue
            same_kind = (weekend[lo:d] == weekend[d])[None, :, None]  # weekdays against weekdays, weekends apart
            kept = np.where(admitted[:, lo:d, :], logs[:, lo:d, :], np.nan)
            wide = kept
            for k in range(1, self.neighbour_hours + 1):  # each day, an hour's history is its neighbourhood's peak
                wide = np.fmax(wide, np.fmax(np.roll(kept, k, axis=2), np.roll(kept, -k, axis=2)))
            history = np.where(admitted[:, lo:d, :] & same_kind, wide, np.nan)
            present = ~np.isnan(history)  # the last history_days admitted days of each (entity, hour)
            from_end = np.cumsum(present[:, ::-1, :], axis=1)[:, ::-1, :]
            recent = present & (from_end <= self.history_days)
            history = np.where(recent, history, np.nan)
            expected, spread, count = self._baseline(history)
            own = count >= self.min_history
            if profile.population:  # entities without history of their own against all of them at that hour
                pooled = history.transpose(1, 0, 2).reshape(1, -1, 24)
                pop_expected, pop_spread, pop_count = (a[0] for a in self._baseline(pooled))
                expected = np.where(own, expected, pop_expected[None, :])
                spread = np.where(own, spread, pop_spread[None, :])
                count = np.where(own, count, pop_count[None, :])
            for rows_of in members.values():  # members without history of their own against their group
                g_expected, g_spread, g_count = (a[0] for a in self._baseline(
                    history[rows_of].transpose(1, 0, 2).reshape(1, -1, 24)))
                expected[rows_of] = np.where(own[rows_of], expected[rows_of], g_expected[None, :])
                spread[rows_of] = np.where(own[rows_of], spread[rows_of], g_spread[None, :])
                count[rows_of] = np.where(own[rows_of], count[rows_of], g_count[None, :])
            z = (logs[:, d, :] - expected) / spread
            hourly = np.where(recent & admitted[:, lo:d, :] & same_kind, logs[:, lo:d, :], np.nan)  # not widened
            rare, usual = (self._rare_hours(hourly, grid[:, d, :], names, index, peers or {}) if profile.rare_hours
                           else (None, None))
            admitted[:, d, :] = ~((count >= self.min_history) & (z > self.guard_z))
            if rare is not None:
                admitted[:, d, :] &= ~rare
            day = first + dt.timedelta(days=d)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            before = window.since and start + dt.timedelta(days=1) <= window.since
            if before or (window.until and start >= window.until):
                continue
            observed = grid[:, d, :]
            plain_expected = np.expm1(expected)
            with np.errstate(invalid="ignore"):
                anomalous = ((count >= self.min_history) & (z >= self.z_threshold)
                             & (observed >= self.min_ratio * np.maximum(plain_expected, 1e-9))
                             & (observed - plain_expected >= profile.floor))
                if rare is not None:
                    anomalous = anomalous | rare
            for e_i, hour in zip(*np.nonzero(np.nan_to_num(anomalous, nan=False).astype(bool)), strict=True):
                at = start + dt.timedelta(hours=int(hour))
                if (window.since and at < window.since) or (window.until and at >= window.until):
                    continue
                entity = names[e_i]
                out.append({"profile": profile.name, "unit": profile.unit, "column": profile.entity,
                            "entity": entity, "hour": at,
                            "observed": float(observed[e_i, hour]), "expected": float(plain_expected[e_i, hour]),
                            "spread": float(np.expm1(expected[e_i, hour] + spread[e_i, hour])
                                            - plain_expected[e_i, hour]),
                            "z": float(z[e_i, hour]), "history_days": int(count[e_i, hour]),
                            "basis": ("own" if own[e_i, hour] else f"group {group_of[entity]}" if group_of[entity]
                                      else "population"),
                            **self._peers(entity, names, grid[:, d, hour], group_of),
                            **(self._rare_hour(usual[e_i], hourly[e_i]) if rare is not None and rare[e_i, hour]
                               else {})})
        return out

    def _rare_hours(self, history: np.ndarray, observed: np.ndarray, names: list[str], index: dict[str, int],
                    peers: dict[str, set[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Hours with activity far from every hour of activity on the history days of the entity and its peers,
        and those hours."""
        own = (np.nan_to_num(history, nan=0.0) > 0).any(axis=1)  # (entity, hour) ever active in the history
        usual = own.copy()
        for e, name in enumerate(names):
            for peer in peers.get(name, ()):
                if peer in index:
                    usual[e] |= own[index[peer]]
        near = np.zeros_like(usual)
        for k in range(-self.hour_margin, self.hour_margin + 1):
            near |= np.roll(usual, k, axis=1)  # hours wrap around midnight
        days_known = (~np.isnan(history)).any(axis=2).sum(axis=1)
        return (np.nan_to_num(observed, nan=0.0) > 0) & ~near & (days_known >= self.min_history)[:, None], usual

    def _rare_hour(self, usual: np.ndarray, history: np.ndarray) -> dict[str, Any]:
        hours = [int(h) for h in np.flatnonzero(usual)]
        return {"rare_hour": True, "usual_hours": hours, "history_days": int((~np.isnan(history)).any(axis=1).sum())}

    def _score(self, hit: dict[str, Any]) -> float:
        """One hour's score: from its z (``z_threshold`` -> 0.6 ... ``z_high`` -> 0.8, up to 0.9) or its rare hour."""
        z = hit["z"]
        base = 0.6 + 0.2 * min(1.0, max(0.0, z - self.z_threshold) / max(self.z_high - self.z_threshold, 1e-9))
        if z > self.z_high:
            base = min(0.9, 0.8 + 0.1 * (z - self.z_high) / self.z_high)
        return max(base, self.rare_hour_score) if hit.get("rare_hour") else base

    def _baseline(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median and robust spread of each (entity, hour) over the days axis (NaN: not in the baseline)."""
        import warnings

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(history, axis=1)
            spread = np.maximum(1.4826 * np.nanmedian(np.abs(history - med[:, None, :]), axis=1), self.min_spread)
            count = np.sum(~np.isnan(history), axis=1)
        return med, spread, count

    def _peers(self, entity: str, names: list[str], column: np.ndarray,
               group_of: dict[str, str | None]) -> dict[str, Any]:
        """The median of the entity's peers at that hour: its asset group's, or its /24's."""
        group = group_of.get(entity)
        if group:
            label = f"its {group} peers"
            values = [column[i] for i, n in enumerate(names)
                      if n != entity and group_of.get(n) == group and not np.isnan(column[i])]
        else:
            try:
                net = (str(ipaddress.ip_network(f"{entity}/{self.peer_prefix}", strict=False)),)
            except ValueError:
                return {"peers": None, "peer_group": None}
            label = f"its /{self.peer_prefix} peers"
            values = [column[i] for i, n in enumerate(names)
                      if n != entity and not np.isnan(column[i]) and in_networks_py(n, net)]
        return {"peers": float(np.median(values)) if values else None, "peer_group": label}

    def _finding(self, entity: str, day: dt.date, hits: list[dict[str, Any]]) -> Finding:
        hits.sort(key=lambda h: (-self._score(h), -h["z"]))
        top = hits[0]
        per_profile: dict[str, float] = {}
        for h in hits:
            per_profile[h["profile"]] = max(per_profile.get(h["profile"], 0.0), round(h["z"], 3))
        score = min(1.0, self._score(top) + self.more_weight * (len(per_profile) - 1))
        peers = f"; {top['peer_group']}: {_fmt(top['peers'], top['unit'])}" if top["peers"] is not None else ""
        others = [p for p in per_profile if p != top["profile"]]
        whose = ("its usual" if top["basis"] == "own"
                 else f"the usual of its {top['basis'].removeprefix('group ')} group (it has no history of its own)"
                 if top["basis"].startswith("group ") else "the usual of any entity (it has no history of its own)")
        when = (f"between {top['hour']:%H:00} and {top['hour'] + dt.timedelta(hours=1):%H:00} on "
                f"{top['hour']:%a %Y-%m-%d}")
        if top.get("rare_hour"):
            usual = top["usual_hours"]
            others = [p for p in per_profile if p != top["profile"]]
            why = (f"{entity}: {_fmt(top['observed'], top['unit'])} {when} ({top['profile']}); in "
                   f"{top['history_days']} days of history none within {self.hour_margin} h of that hour (usual "
                   f"hours {_hours(usual)})" + (f"; also off: {', '.join(others)}" if others else ""))
            return self._make(entity, day, hits, per_profile, score, why)
        why = (f"{entity}: {_fmt(top['observed'], top['unit'])} between {top['hour']:%H:00} and "
               f"{top['hour'] + dt.timedelta(hours=1):%H:00} on {top['hour']:%a %Y-%m-%d} ({top['profile']}); "
               f"{whose} for that hour is {_fmt(top['expected'], top['unit'])} "
               f"(spread {_fmt(top['spread'], top['unit'])}, {top['history_days']} "
               f"{'days' if top['basis'] == 'own' else 'entity-days'}){peers}; z = {top['z']:.1f}"
               + (f"; also off: {', '.join(others)}" if others else ""))
        return self._make(entity, day, hits, per_profile, score, why)

    def _make(self, entity: str, day: dt.date, hits: list[dict[str, Any]], per_profile: dict[str, float],
              score: float, why: str) -> Finding:
        column = hits[0]["column"]
        return Finding(
            detector=self.name, score=round(score, 6), entity=f"{entity} baseline {day:%Y-%m-%d}",
            src=entity if is_address(entity) else None, host=entity if column == "host" else None,
            user=entity if column == "user" else None,
            first_seen=min(h["hour"] for h in hits), last_seen=max(h["hour"] for h in hits) + dt.timedelta(hours=1),
            components={f"z_{p}": z for p, z in per_profile.items()},
            evidence={"hours": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in h.items()}
                                for h in hits[:24]], "profiles": sorted(per_profile)},
            why=why)


def _asset_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``profiles.peer_groups`` as (group, patterns) pairs."""
    from winnow.config import current
    from winnow.errors import WinnowError

    out = []
    for record in current().get("profiles.peer_groups"):
        if len(record) < 2 or not all(isinstance(v, str) and v for v in record):
            raise WinnowError(f"profiles.peer_groups: {list(record)!r} is not [group name, pattern, ...] (text)")
        for pattern in record[1:]:
            if "/" in pattern:
                try:
                    ipaddress.ip_network(pattern, strict=False)
                except ValueError as exc:
                    raise WinnowError(f"profiles.peer_groups: group {record[0]!r}: {exc}") from None
        out.append((record[0], tuple(record[1:])))
    return tuple(out)


def _hours(hours: list[int]) -> str:
    """Hours of the day as ranges: 08:00–12:00, 14:00–18:00 (each range to the end of its last hour)."""
    runs: list[list[int]] = []
    for h in hours:
        if runs and h == runs[-1][1] + 1:
            runs[-1][1] = h
        else:
            runs.append([h, h])
    return ", ".join(f"{a:02d}:00–{(b + 1) % 24:02d}:00" for a, b in runs) or "none"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "?"
    value = float(round(value, 6))  # expm1(log1p(x)) is x to within rounding
    if unit == "bytes":
        value = float(round(value))
        for suffix, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if value >= size:
                return f"{value / size:.1f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:.0f} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"

"""Sensor and feed health from the data itself: endpoints gone silent, feeds that dropped, clocks off.

"How do you make sure you are getting data from all endpoints? What if one goes offline?" Every row of
the lake says which feed wrote it (``_source_format``: sysmon_json, evtx, auditd, zeek_tsv ...) and which
reporter (the endpoint's ``host``, or the network ``sensor``). For each feed, time is cut into periods of
``period_hours`` counted back from the feed's newest event (period 0 is the last one), and for each
(feed, reporter):

* **its usual rate** for each hour of the day, weekdays and weekend days apart, over its periods
  before the last (from its first period to its last event; hours it sent nothing count 0): a workstation that is off
  at night and on weekends usually sends nothing then, and its silence then is not news;
* **expected**: what those rates add up to over the last period; **actual**: the last period's count;
* **silent** when it sent nothing for ``silence_hours`` before the feed's newest event, that silence
  holds at least ``min_missed_hours`` hours in which it usually reports (on at least half of such days:
  a workstation switched off for the weekend on Friday evening is not silent until Monday's working
  hours have passed) and its usual rates add up to ``min_volume`` events or more over it (a host logging
  two logons a day says nothing by being quiet), after reporting for at least ``min_history`` periods (a
  week and a day by default, so its weekends are known): an agent stopped, a host was switched off or
  wiped, logging was disabled (ATT&CK T1562.002/T1070 look like this too);
* **dropped** when ``actual`` is below ``drop_ratio`` × ``expected`` (and ``expected`` is at least
  ``min_volume``): a half-broken forwarder, a filter pushed by mistake, or an attacker's;
* the **feed** as a whole (all reporters summed) is judged the same way: a collector losing most of
  its input;
* **clock**: the process ↔ connection join (``net.conn_proc``) measures each endpoint's clock against
  the network sensor's, day by day (a day counts with ``min_matches`` matched connections). A clock is
  off when its last measured day's median offset is beyond ``skew_seconds`` (timelines across sources
  are wrong by that much), or when it is **drifting**: over its last three measured days the offset
  grew by at least ``drift_seconds`` a day, monotonically, to at least ``drift_seconds`` — and a
  drift soon carries the events out of the join's reach, so the days after it, when its connections
  stop matching (below ``drop_ratio`` of its usual matched share), are named too;
* **coverage**: internal addresses sending at least ``min_connections`` connections in ``net.conn``
  that no endpoint log maps to a host (``proc.net``) are devices without an agent: one summary
  finding, and rows of ``winnow sensors``.

``coverage()`` is the table ``winnow sensors`` prints: feed × reporter, last seen, expected and actual
volume, state.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

#: tables whose rows are a feed's output (derived tables such as net.conn_proc are not)
WATCHED = ("win.event", "proc.exec", "proc.net", "proc.file", "proc.dns", "auth.logon", "net.conn", "net.dns",
           "net.http", "net.tls", "net.flow", "ids.alert")


@register
class SensorHealth(Detector):
    """Args:
    tables: lake tables whose feeds are watched (rows per feed and reporter).
    period_hours: length of the periods counted back from each feed's newest event.
    history: periods of history read.
    min_history: periods a reporter's history must span before its silence or drop counts.
    silence_hours: a reporter that sent nothing for this long before its feed's newest event is silent.
    min_missed_hours: hours of the silence in which the reporter usually reports (half of such days or more).
    drop_ratio: the last period below this share of the expected volume is a drop.
    min_volume: expected volume (events per period) below which drops are not judged.
    skew_seconds: median endpoint clock offset (net.conn_proc) beyond which a host's clock is off.
    min_matches: matched connections a host needs on a day before that day's clock offset is judged.
    drift_seconds: growth of the clock offset per day (and least offset) from which a clock is drifting.
    min_connections: connections an internal address must send to count as an active device.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "sensor_health"
    description: ClassVar[str] = (
        "endpoints and feeds gone silent or dropped, endpoint clocks off, devices with network but no endpoint data"
    )
    tables: ClassVar[tuple[str, ...]] = WATCHED

    def __init__(self, tables: tuple[str, ...] = WATCHED, period_hours: float = 24.0, history: int = 14,
                 min_history: int = 8, silence_hours: float = 12.0, min_missed_hours: float = 4.0,
                 drop_ratio: float = 0.25,
                 min_volume: float = 50.0, skew_seconds: float = 120.0, min_matches: int = 20,
                 drift_seconds: float = 20.0, min_connections: int = 20, limit: int = 500) -> None:
        self.tables = tables
        self.period_hours = period_hours
        self.history = history
        self.min_history = min_history
        self.silence_hours = silence_hours
        self.min_missed_hours = min_missed_hours
        self.drop_ratio = drop_ratio
        self.min_volume = min_volume
        self.skew_seconds = skew_seconds
        self.min_matches = min_matches
        self.drift_seconds = drift_seconds
        self.min_connections = min_connections
        self.limit = limit

    # ------------------------------------------------------------------ the coverage table

    def coverage(self, engine: Engine, window: Window | None = None) -> list[dict[str, Any]]:
        """Feed × reporter rows: last seen, expected and actual volume per period, state; worst first."""
        window = window or Window()
        rows: list[dict[str, Any]] = []
        for table in self.tables:
            t = engine.table(table, window)
            if t is None or "_source_format" not in t.columns:
                continue
            # network tables' host column is a name the traffic carried (HTTP Host), not who logged it
            network = table.startswith("net.") or table == "ids.alert"
            reporter = "sensor" if network or "host" not in t.columns else "host"
            for feed, end in self._ends(t):
                rows += self._feed_rows(t, table, reporter, feed, end)
        rows = _one_per_reporter(rows)
        rows += self._clock_rows(engine, window)
        rows += self._unmanaged_rows(engine, window)
        order = {"silent": 0, "dropped": 1, "clock off": 2, "no endpoint data": 3, "new": 4, "ok": 5}
        rows.sort(key=lambda r: (order.get(r["state"], 9), -(r.get("silent_hours") or 0), str(r["feed"]),
                                 str(r["reporter"])))
        return rows

    def _ends(self, t: Any) -> list[tuple[str, dt.datetime]]:
        ends = t.filter(t.ts.notnull()).group_by("_source_format").aggregate(end=t.ts.max())
        return [(r["_source_format"] or "?", r["end"]) for r in fetch(ends).to_pylist() if r["end"] is not None]

    def _feed_rows(self, t: Any, table: str, reporter: str, feed: str, end: dt.datetime) -> list[dict[str, Any]]:
        seconds = int(self.period_hours * 3600)
        end_s = int(end.timestamp())
        rows = t.filter((t._source_format == feed) if feed != "?" else t._source_format.isnull())
        rows = rows.filter(rows.ts.notnull()).mutate(
            who=rows[reporter].fill_null("?"), period=((end_s - rows.ts.epoch_seconds().cast("int64")) // seconds))
        rows = rows.filter(rows.period < self.history)
        per = rows.group_by(["who", "period"]).aggregate(n=rows.count(), last=rows.ts.max())
        counts: dict[str, dict[int, int]] = defaultdict(dict)
        last: dict[str, dt.datetime] = {}
        for r in fetch(per).to_pylist():
            counts[r["who"]][int(r["period"])] = int(r["n"])
            last[r["who"]] = max(last.get(r["who"], r["last"]), r["last"])
        before = rows.filter(rows.period >= 1)
        hourly = before.group_by(["who", (before.ts.day_of_week.index() >= 5).name("weekend"),
                                  before.ts.hour().name("hour")]).aggregate(n=before.count(),
                                                                            days=before.ts.date().nunique())
        sent: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((2, 2, 24)))  # events, days with events
        for r in fetch(hourly).to_pylist():
            sent[r["who"]][:, int(bool(r["weekend"])), int(r["hour"])] += (int(r["n"]), int(r["days"]))
        hours = _HourKinds(end, self.period_hours)
        out = [self._judge(table, feed, who, c, last[who], end, sent[who], hours) for who, c in counts.items()]
        total: dict[int, int] = defaultdict(int)
        for c in counts.values():
            for p, n in c.items():
                total[p] += n
        whole = sum(sent.values(), np.zeros((2, 2, 24)))  # its "days with events" add up over reporters: a share >= 1
        out.append(self._judge(table, feed, "(whole feed)", dict(total), end, end, whole, hours))
        return out

    def _judge(self, table: str, feed: str, who: str, counts: dict[int, int], last: dt.datetime,
               end: dt.datetime, sent: np.ndarray, hours: _HourKinds) -> dict[str, Any]:
        oldest = max(counts)
        reported = sum(1 for p in range(1, oldest + 1) if counts.get(p))
        known = np.maximum(hours.history(oldest, last), 1)  # days of each kind behind each hour of the day
        rate, presence = sent[0] / known, sent[1] / known  # usual events per hour; share of days it reported then
        expected = round(float((rate * hours.between(end - dt.timedelta(hours=self.period_hours), end)).sum()), 1)
        actual = counts.get(0, 0)
        silent_hours = (end - last).total_seconds() / 3600
        judged = oldest >= self.min_history
        silence = hours.between(last, end) if silent_hours >= self.silence_hours else np.zeros((2, 24))
        missed = round(float((rate * silence).sum()), 1)
        missed_hours = float((silence * (presence >= 0.5)).sum())  # hours it usually reports in
        state = "ok"
        if reported == 0:
            state = "new"
        elif (judged and silent_hours >= self.silence_hours and missed >= self.min_volume
              and missed_hours >= self.min_missed_hours):
            state = "silent"
        elif (judged and expected >= self.min_volume and actual < self.drop_ratio * expected
              and silent_hours < self.silence_hours):
            state = "dropped"
        return {"feed": feed, "table": table, "reporter": who, "state": state, "last_seen": last,
                "silent_hours": round(silent_hours, 2), "expected": expected, "actual": actual,
                "expected_in_silence": missed, "usual_hours_missed": missed_hours,
                "periods_reported": reported + (1 if actual else 0), "feed_end": end}

    def _clock_rows(self, engine: Engine, window: Window) -> list[dict[str, Any]]:
        joined = engine.table("net.conn_proc", window)
        if joined is None:
            return []
        rows = joined.filter(joined.host.notnull())
        matched = rows.match.isin(["exact", "skew"]) & rows.skew_s.notnull()
        per = rows.group_by(["host", rows.ts.date().name("day")]).aggregate(
            total=rows.count(), matches=matched.sum(), skew=rows.skew_s.median(where=matched), last=rows.ts.max())
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in fetch(per).to_pylist():
            days[r["host"]].append(r)
        out = []
        for host, rs in sorted(days.items()):
            rs.sort(key=lambda r: r["day"])
            row = self._clock(rs)
            if row:
                out.append({"feed": "net.conn_proc", "table": "net.conn_proc", "reporter": host,
                            "silent_hours": None, "expected": 0.0, "actual": row["skew_s"],
                            "periods_reported": None, "feed_end": None, **row})
        return out

    def _clock(self, days: list[dict[str, Any]]) -> dict[str, Any] | None:
        """One host's clock from its days of ``net.conn_proc``: state, last measured offset, drift, unmatched days."""
        measured = [r for r in days if (r["matches"] or 0) >= self.min_matches and r["skew"] is not None]
        if not measured:
            return None
        usual = statistics.median(r["matches"] / r["total"] for r in measured)
        # a day where only a few stray pairs matched measures nothing (its offset is their coincidence)
        measured = [r for r in measured if r["matches"] / r["total"] >= self.drop_ratio * usual]
        last = measured[-1]
        skew = round(float(last["skew"]), 1)
        recent = [float(r["skew"]) for r in measured[-3:]]
        steps = [b - a for a, b in zip(recent, recent[1:], strict=False)]
        span = max(1, (measured[-1]["day"] - measured[-len(recent)]["day"]).days)
        rate = (recent[-1] - recent[0]) / span if len(recent) == 3 else 0.0
        sign = 1 if rate >= 0 else -1
        drifting = (len(recent) == 3 and all(sign * s > 0 for s in steps) and abs(rate) >= self.drift_seconds
                    and abs(recent[-1]) >= self.drift_seconds)
        lost = [r for r in days if r["day"] > last["day"] and r["total"] >= self.min_matches
                and (r["matches"] or 0) / r["total"] < self.drop_ratio * usual]
        off = abs(skew) >= self.skew_seconds or drifting
        return {"state": "clock off" if off else "ok", "skew_s": skew, "matches": int(last["matches"]),
                "last_seen": max(r["last"] for r in days), "measured_on": str(last["day"]),
                "drift_s_per_day": round(rate, 1) if drifting else None,
                "recent_skew_s": [round(v, 1) for v in recent], "usual_matched_share": round(usual, 3),
                "unmatched_since": str(lost[0]["day"]) if lost and drifting else None}

    def _unmanaged_rows(self, engine: Engine, window: Window) -> list[dict[str, Any]]:
        conn, net = engine.table("net.conn", window), engine.table("proc.net", window)
        if conn is None or net is None:
            return []
        from winnow.risk.lake_context import resolver_for

        resolver = resolver_for(engine)
        per = conn.group_by("src_ip").aggregate(n=conn.count(), last=conn.ts.max())
        per = per.filter(per.n >= self.min_connections)
        out = []
        for r in fetch(per).to_pylist():
            ip = r["src_ip"]
            if not ip or not resolver.internal(ip) or ip in resolver.ip_hosts:
                continue
            out.append({"feed": "net.conn", "table": "net.conn", "reporter": ip, "state": "no endpoint data",
                        "last_seen": r["last"], "silent_hours": None, "expected": None, "actual": int(r["n"]),
                        "periods_reported": None, "feed_end": None})
        return out

    # ------------------------------------------------------------------ findings

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        rows = self.coverage(engine, window)
        findings = [self._finding(r) for r in rows if r["state"] in ("silent", "dropped", "clock off")]
        unmanaged = [r for r in rows if r["state"] == "no endpoint data"]
        if unmanaged:
            findings.append(self._unmanaged(unmanaged))
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _finding(self, r: dict[str, Any]) -> Finding:
        whole = r["reporter"] == "(whole feed)"
        who = f"the {r['feed']} feed" if whole else f"{r['reporter']} ({r['feed']})"
        if r["state"] == "silent":
            regular = r["periods_reported"] / max(1, self.history)
            score = min(0.9, 0.6 + 0.1 * min(2.0, r["silent_hours"] / max(self.silence_hours, 1e-9) - 1)
                        + 0.1 * regular)
            why = (f"{who} sent nothing for {r['silent_hours']:.1f} h before the feed's newest event (last seen "
                   f"{r['last_seen']:%Y-%m-%d %H:%M} UTC), {r['usual_hours_missed']:.0f} of them hours it usually "
                   f"reports in, where its usual is {r['expected_in_silence']:,.0f} events, after reporting in "
                   f"{r['periods_reported']} periods of {self.period_hours:g} h")
            components = {"silence": round(r["silent_hours"] / self.silence_hours, 3), "regularity": round(regular, 3)}
        elif r["state"] == "dropped":
            share = r["actual"] / r["expected"] if r["expected"] else 0.0
            score = 0.6 + 0.2 * (1 - share / self.drop_ratio)
            why = (f"{who} sent {r['actual']} events in the last {self.period_hours:g} h against a usual "
                   f"{r['expected']:g} ({share:.0%}): the feed dropped")
            components = {"share": round(share, 4)}
        else:
            score = min(0.8, 0.6 + 0.1 * abs(r["skew_s"]) / self.skew_seconds)
            side = "ahead of" if r["skew_s"] > 0 else "behind"
            why = (f"{r['reporter']}'s clock is {_span(abs(r['skew_s']))} {side} "
                   f"the network sensor's on {r['measured_on']} (median over {r['matches']} matched connections)")
            components = {"skew": round(abs(r["skew_s"]) / self.skew_seconds, 3)}
            if r.get("drift_s_per_day"):
                score = max(score, 0.7)
                why += (f", drifting {_span(abs(r['drift_s_per_day']))} a day (last offsets "
                        f"{', '.join(f'{v:+.1f} s' for v in r['recent_skew_s'])})")
                components["drift"] = round(abs(r["drift_s_per_day"]) / self.drift_seconds, 3)
            if r.get("unmatched_since"):
                why += (f"; from {r['unmatched_since']} its connections no longer match its endpoint events "
                        f"(usually {r['usual_matched_share']:.0%} do): the drift has carried them out of reach")
            why += ": its events are misplaced on every timeline by that much"
        host = None if whole or r["table"].startswith("net.") and r["state"] != "clock off" else r["reporter"]
        return Finding(
            detector=self.name, score=round(min(1.0, score), 6), entity=f"{r['reporter']} {r['feed']} {r['state']}",
            host=host, first_seen=r["last_seen"], last_seen=r.get("feed_end") or r["last_seen"],
            components=components, evidence={k: v for k, v in r.items() if k not in ("last_seen", "feed_end")},
            why=why,
        )

    def _unmanaged(self, rows: list[dict[str, Any]]) -> Finding:
        rows = sorted(rows, key=lambda r: -r["actual"])
        top = ", ".join(f"{r['reporter']} ({r['actual']} connections)" for r in rows[:5])
        why = (f"{len(rows)} internal addresses sent traffic but no endpoint log maps them to a host (no agent, or "
               f"an unmanaged device): {top}" + (" ..." if len(rows) > 5 else ""))
        return Finding(
            detector=self.name, score=0.45, entity="devices without endpoint data", host=None,
            first_seen=None, last_seen=max(r["last_seen"] for r in rows), components={"devices": float(len(rows))},
            evidence={"devices": len(rows), "top": [{"address": r["reporter"], "connections": r["actual"]}
                                                     for r in rows[:20]]},
            why=why,
        )



class _HourKinds:
    """How many clock hours of each (weekend, hour of day) a stretch of time holds, cached per feed."""

    def __init__(self, end: dt.datetime, period_hours: float) -> None:
        self.end = end
        self.period = dt.timedelta(hours=period_hours)
        self._cache: dict[tuple[dt.datetime, dt.datetime], np.ndarray] = {}

    def history(self, oldest: int, last: dt.datetime) -> np.ndarray:
        """The hours of the periods before the last, back to period ``oldest``, up to the hour of ``last`` (a
        silence going on now is not history)."""
        until = last.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        return self.between(self.end - self.period * (oldest + 1), min(until, self.end - self.period))

    def between(self, start: dt.datetime, stop: dt.datetime) -> np.ndarray:
        key = (start.replace(minute=0, second=0, microsecond=0), stop)
        if key not in self._cache:
            grid = np.zeros((2, 24))
            at = key[0]
            while at < stop:
                grid[int(at.weekday() >= 5), at.hour] += 1
                at += dt.timedelta(hours=1)
            self._cache[key] = grid
        return self._cache[key]


def _one_per_reporter(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (feed, reporter): a feed writes several tables (Sysmon: win.event and proc.*), the one
    with the most events speaks for it."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["feed"], r["reporter"])
        volume = (r["expected"] or 0, r["actual"] or 0)
        if key not in best or volume > ((best[key]["expected"] or 0), best[key]["actual"] or 0):
            best[key] = r
    return list(best.values())


def _span(seconds: float) -> str:
    """A duration a person reads: 95 s, 12.5 min, 3.2 h, 5.6 days."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"

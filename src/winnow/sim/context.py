"""One unit of generation: a chunk of hosts on one simulated UTC day, with their on/present windows.

Each day every host gets two windows (microseconds since the epoch, -1 when empty):
    * on:      when the machine runs. Always-on machines (and servers) run all day; the others start
               15 min before their user arrives and stop 30 min after they leave, and stay off on days
               their user is away.
    * present: when the user works: the host's working hours shifted by N(0, 20 min) that day.
               Users come in on 93 % of weekdays; on weekends only "weekend workers" do (60 %), for
               half a day.
Random generators are derived from (seed, component, day, chunk) so every unit is reproducible on
its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from winnow.sim.network import World, sub_rng

US = 1_000_000
DAY = 86_400 * US
HOUR = 3_600 * US

# Component keys of `DayChunk.rng`: one per generator so they never share a stream.
PRESENCE, BROWSING, APPS, PERIODIC, INTERNAL, DNS, DNS_NOISE, RARE, ATTACKS = range(1, 10)
HOUSEKEEPING, SHAPES, SIDES, DNS_LATE = range(20, 24)


def day_start_us(start: str, day: int) -> int:
    """Epoch microseconds of 00:00 UTC on simulated day `day`."""
    d = dt.date.fromisoformat(start) + dt.timedelta(days=day)
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) * US


@dataclass
class DayChunk:
    """Hosts `hosts` (indexes into `world.hosts`) on day `day`."""

    world: World
    day: int
    chunk: int
    hosts: np.ndarray

    def __post_init__(self) -> None:
        self.day0 = day_start_us(self.world.start, self.day)
        date = dt.date.fromisoformat(self.world.start) + dt.timedelta(days=self.day)
        self.weekend = date.weekday() >= 5
        self._windows()

    def rng(self, component: int) -> np.random.Generator:
        """Generator for one component of this unit."""
        return sub_rng(self.world.seed, component, self.day, self.chunk)

    def _windows(self) -> None:
        h = self.world.hosts
        idx = self.hosts
        rng = self.rng(PRESENCE)
        n = len(idx)
        if self.weekend:
            present = h.weekend_worker[idx] & (rng.random(n) < 0.6)
            length = h.work_len[idx] * 0.5
        else:
            present = rng.random(n) < 0.93
            length = h.work_len[idx]
        present &= ~h.server[idx]
        start = h.work_start[idx] + rng.normal(0.0, 0.33, n)
        self.present = present
        self.pres_start = np.where(present, self.day0 + (start * HOUR).astype(np.int64), -1)
        self.pres_end = np.where(present, self.pres_start + (length * HOUR).astype(np.int64), -1)
        on_all = h.always_on[idx]
        self.on_start = np.where(on_all, self.day0, np.where(present, self.pres_start - HOUR // 4, -1))
        self.on_end = np.where(on_all, self.day0 + DAY, np.where(present, self.pres_end + HOUR // 2, -1))
        self.on = on_all | present

    def window(self, schedule: str) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (microseconds, -1 when none) of the "on" or "present" window of each host."""
        if schedule == "present":
            return self.pres_start, self.pres_end
        return self.on_start, self.on_end

    def poisson_events(
        self, rng: np.random.Generator, per_hour: np.ndarray | float, schedule: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Local host indexes and sorted-per-host uniform times of a Poisson stream inside a window."""
        a, b = self.window(schedule)
        hours = np.where(a >= 0, (b - a) / HOUR, 0.0)
        count = rng.poisson(np.asarray(per_hour) * hours)
        host = np.repeat(np.arange(len(a)), count)
        ts = a[host] + (rng.random(len(host)) * (b[host] - a[host])).astype(np.int64)
        return host, ts

    @property
    def ip(self) -> np.ndarray:
        """IP indexes of the chunk's hosts."""
        return self.world.hosts.ip[self.hosts]

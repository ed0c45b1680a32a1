"""The lake's writer lock: one ingest, collector flush or derived-table refresh writes at a time.

Whoever takes the lock first finishes or drops what a killed writer left (:func:`~winnow.lake.commit.recover`),
so every writer starts from a lake with no half-done commit. The lock is not re-entrant: a second
holder, in this process or another, meets :class:`LakeBusy`. Functions that write the lake without
taking it (``ingest_files``, ``refresh_conn_proc``) say that their caller holds it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from winnow.errors import WinnowError
from winnow.lake.commit import recover
from winnow.lake.layout import Lake

LOCK = "_lock"


class LakeBusy(WinnowError):
    """Another writer holds the lake's lock."""


@contextmanager
def lake_lock(lake: Lake) -> Iterator[None]:
    """Hold the lake's writer lock, recovering a killed writer's work first; LakeBusy when it is taken."""
    with open(lake.root / LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LakeBusy(f"another ingest is writing to {lake.root}; wait for it to finish") from None
        try:
            recover(lake)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

"""What the lake knew before: first sightings of (user, host) pairs and of users, over the lake's whole history.

Detectors that judge something as *first-time* (a user logging on to a host, a user running sudo)
compare the first sighting of the pair with the first sighting of the user anywhere in the lake:
a pair first seen in the window, for a user the lake has known for at least ``min_history_days``,
is new. A user the lake has only just met is new itself when the lake had been watching for
``min_history_days`` before it appeared; in the lake's own first days nothing is judged.
History is read with an open :class:`~winnow.engine.Window`, so it reaches back as far as the lake.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from winnow.engine import Window

#: account names that are never a person: machine accounts end in $, the rest are Windows' built-ins
SYSTEM_USERS = ("system", "local service", "network service", "anonymous logon", "dwm-1", "dwm-2", "dwm-3",
                "umfd-0", "umfd-1", "umfd-2", "umfd-3", "-", "")


def person(user: ir.StringValue) -> ir.BooleanValue:
    """A user name that may be a person's (not a machine account, not a built-in service identity)."""
    low = user.lower()
    return user.notnull() & ~low.endswith("$") & ~low.isin(SYSTEM_USERS)


def first_sightings(rows: ir.Table, key: list[str], who: str, window: Window,
                    min_history_days: float) -> ir.Table:
    """Pairs ``key`` first seen inside ``window``, with what the lake knew of ``who`` before them.

    ``rows`` is the lake's whole history of the events (columns ``ts`` and ``key``). A pair is kept
    when ``who`` was first seen ``min_history_days`` before it (a known user on a new host), or when
    ``who`` itself is new to a lake that had been watching for ``min_history_days`` already
    (``new_user``: a freshly created account; the detector decides what that is worth). Columns:
    ``key``, ``first_seen`` (of the pair), ``known_since`` (first sighting of ``who``), ``known_pairs``
    (pairs of ``who`` first seen before this one) and ``new_user``.
    """
    pairs = rows.group_by(key).aggregate(first_seen=rows.ts.min())
    by_user = ibis.window(group_by=who, order_by="first_seen")
    pairs = pairs.mutate(known_since=pairs.first_seen.min().over(ibis.window(group_by=who)),
                         lake_start=pairs.first_seen.min().over(ibis.window()),
                         known_pairs=ibis.rank().over(by_user).cast("int64"))
    least = int(min_history_days * 86400)
    known = (pairs.first_seen.epoch_seconds() - pairs.known_since.epoch_seconds()) >= least
    watched = (pairs.known_since.epoch_seconds() - pairs.lake_start.epoch_seconds()) >= least
    new = pairs.filter(known | watched).mutate(new_user=~known)
    if window.since is not None:
        new = new.filter(new.first_seen >= ibis.literal(window.since))
    if window.until is not None:
        new = new.filter(new.first_seen < ibis.literal(window.until))
    return new.drop("lake_start")

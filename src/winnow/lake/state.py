"""Small state files a lake keeps for its writers (``<lake>/_state/<name>``), published by commit.

A state file is read whole and replaced whole: the writer finishes the new version under
``_tmp/<run>/`` and puts the move into the :class:`~winnow.lake.commit.Commit` that publishes the
data it belongs with, so the state and that data appear together or not at all (a crash before
the commit point leaves the previous version in place). State that several writers change (the
NetFlow templates of ingests and of the collector) is merged: :func:`stage_merged` applies a
writer's changes over the version published now, under the lake's lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from winnow.lake.layout import Lake

STATE = "_state"


class MergedState(Protocol):
    """State that knows its changes since it was last saved and can apply them over a stored version."""

    changed: set

    def merged_onto(self, text: str | None) -> object: ...

    def dumps(self) -> str: ...

    def saved(self) -> None: ...


def state_path(lake: Lake, name: str) -> Path:
    """Where the state file ``name`` is published."""
    return lake.root / STATE / name


def read_state(lake: Lake, name: str) -> str | None:
    """The published text of state file ``name``, or None when there is none."""
    try:
        return state_path(lake, name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def stage_state(lake: Lake, run_id: str, name: str, text: str) -> tuple[Path, Path]:
    """Write a new version of state file ``name`` under ``_tmp/<run_id>/``; return the move publishing it."""
    tmp = lake.tmp_dir / run_id / f"state~{name}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp, state_path(lake, name)


def stage_merged(lake: Lake, run_id: str, name: str, state: MergedState) -> list[tuple[Path, Path]]:
    """The move publishing ``state``'s changes merged over the published version, or none when unchanged.

    ``state`` then forgets its changes (they are in the staged file): publish the move, under the
    lake's lock, in the same commit as the data the state belongs with.
    """
    if not state.changed:
        return []
    state.merged_onto(read_state(lake, name))
    move = stage_state(lake, run_id, name, state.dumps())
    state.saved()
    return [move]

"""Derived tables: tables the lake builds from its other tables, each declaring what it reads.

The ingest pipeline (:mod:`winnow.pipeline.ingest`) refreshes a derived table after a run that
added rows to one of its ``inputs``, when every table it ``needs`` exists; a refresh publishes
through the lake's one commit protocol (:mod:`winnow.lake.commit`) and holds the lake's lock.
Declarations import nothing heavy: a refresh imports its engine only when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from winnow.lake import Lake


@dataclass(frozen=True)
class DerivedTable:
    """One derived table.

    Args:
        table: the table it writes.
        inputs: tables whose new rows can change it.
        needs: tables without which it is empty (checked before its refresh is imported).
        refresh: ``refresh(lake)``: brings it up to date (the caller holds the lock); returns a report.
        command: the command that rebuilds it by hand (named in errors).
    """

    table: str
    inputs: frozenset[str]
    needs: frozenset[str]
    refresh: Callable[[Lake], Any]
    command: str


def _refresh_conn_proc(lake: Lake) -> Any:
    from winnow.enrich.refresh import refresh_conn_proc

    return refresh_conn_proc(lake)


#: which process made each connection (:mod:`winnow.enrich.refresh`); proc.exec adds command lines
CONN_PROC = DerivedTable("net.conn_proc", inputs=frozenset({"net.conn", "proc.net", "proc.exec"}),
                         needs=frozenset({"net.conn", "proc.net"}), refresh=_refresh_conn_proc,
                         command="winnow attribute")


def derived_tables() -> tuple[DerivedTable, ...]:
    """Every derived table, in the order they are refreshed (a table before those that read it)."""
    return (CONN_PROC,)

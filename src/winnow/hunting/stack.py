"""Stacking (least-frequency analysis): the values of one column, rarest first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from winnow.errors import WinnowError
from winnow.hunting.sql import equals, ident, opened, setting_limit

if TYPE_CHECKING:
    import pyarrow as pa

    from winnow.engine import ReadOnlySQL
    from winnow.lake import Lake


def stack(lake: str | Path | Lake | ReadOnlySQL | None, table: str, column: str, by: str | None = None,
          where: str | None = None, limit: int | None = None) -> pa.Table:
    """The values of ``column`` in ``table``, rarest first, each with the filter that selects its rows.

    Args:
        lake: lake folder, :class:`~winnow.lake.Lake` or an open :class:`~winnow.engine.ReadOnlySQL`.
        table: lake table, such as ``proc.exec``.
        column: the column to stack, such as ``image``.
        by: count distinct values of this column too (``host``: on how many hosts each image ran);
            rarest then means fewest distinct ``by`` values, then fewest rows.
        where: a SQL condition on the table's columns limiting the rows stacked (``user = 'root'``);
            it runs in the read-only sandbox, like :func:`~winnow.hunting.query`.
        limit: values returned (default: the ``hunt.stack_limit`` setting).

    Returns:
        Columns ``column`` (the value), ``count`` (rows), ``distinct_<by>`` (with ``by``),
        ``first_seen``/``last_seen`` (tables with ``ts``) and ``filter``: the SQL condition
        (including ``where``) selecting the value's rows, for ``--where`` or a query.
    """
    with opened(lake) as con:
        columns = con.columns(table)
        for name in (column, by):
            if name is not None and name not in columns:
                raise WinnowError(f"{table} has no column {name!r}; its columns: {', '.join(columns)}")
        if columns[column].endswith("[]") or columns[column].startswith(("STRUCT", "MAP")):
            raise WinnowError(f"{table}.{column} holds lists ({columns[column]}): stack a column of single values")
        c = ident(column)
        parts = [f"{c} AS {ident(column)}", "count(*) AS count"]
        if by is not None:
            parts.append(f"count(DISTINCT {ident(by)}) AS {ident('distinct_' + by)}")
        if "ts" in columns:
            parts += ["min(ts) AS first_seen", "max(ts) AS last_seen"]
        order = ([ident("distinct_" + by)] if by is not None else []) + ["count", f"{c} NULLS FIRST"]
        sql = (f"SELECT {', '.join(parts)} FROM {ident(table)}" + (f" WHERE ({where}\n)" if where else "")
               + f" GROUP BY {c} ORDER BY {', '.join(order)}")
        out = con.run(sql, setting_limit(limit, "hunt.stack_limit"))
    filters = [equals(column, v) if not where else f"({where}) AND {equals(column, v)}"
               for v in out.column(column).to_pylist()]
    return out.append_column("filter", _strings(filters))


def _strings(values: list[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, pa.string())

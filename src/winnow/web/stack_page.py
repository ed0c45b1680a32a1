"""Stack (least-frequency analysis), Pivot (where a value appears) and an entity's Timeline, over
:mod:`winnow.hunting`; every Stack and Pivot row links to its rows on the Query page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from winnow.web.app import bench_of

router = APIRouter()
#: column types a stack cannot group by (lists, structs, maps), left out of the pickers
_COMPOUND = ("[]", "STRUCT", "MAP", "UNION")


def rows_link(table: str, condition: str, timed: bool) -> str:
    """The Query page running ``SELECT * FROM table WHERE condition`` (oldest first when ``timed``), at most
    ``web.rows_link`` rows."""
    from winnow.config import current
    from winnow.hunting.sql import ident

    order = " ORDER BY ts" if timed else ""
    sql = f"SELECT * FROM {ident(table)} WHERE {condition}{order} LIMIT {int(current().get('web.rows_link'))}"
    return "/query?" + urlencode({"sql": sql})


def stackable(con: Any) -> dict[str, list[str]]:
    """Per table of the lake, the columns a stack can group by."""
    return {t: [c for c, kind in con.columns(t).items() if not any(k in kind for k in _COMPOUND)]
            for t in con.tables}


@router.get("/stack{ext:path}")
def stack_page(request: Request, ext: str, table: str = "", column: str = "", by: str = "", where: str = "",
               limit: int | None = None) -> Response:
    """The values of ``table``.``column``, rarest first (``by``: fewest distinct values of that column first;
    ``where``: a SQL condition on the rows stacked); the form alone without a table and column."""
    from winnow.hunting import stack

    bench = bench_of(request)
    form = {"table": table, "column": column, "by": by, "where": where}
    with bench.sql() as con:
        tables = stackable(con)
        rows = None
        if table and column:
            found = stack(con, table, column, by=by or None, where=where or None, limit=limit)
            rows = found.to_pylist()
            for row in rows:
                row["link"] = rows_link(table, row["filter"], "first_seen" in found.column_names)
    data = {"title": f"Stack {table}.{column}" if rows is not None else "Stack", "form": form, "tables": tables,
            "value_column": column, "by_column": f"distinct_{by}" if by else None, "rows": rows}
    return bench.respond(request, "stack.html", data, ext)


@router.get("/pivot{ext:path}")
def pivot_page(request: Request, ext: str, value: str = "") -> Response:
    """Every table and column where ``value`` appears (an address, host, user, domain, file name, port ...)."""
    from winnow.hunting import pivot

    bench = bench_of(request)
    rows = None
    if value.strip():
        with bench.sql() as con:
            rows = pivot(con, value.strip()).to_pylist()
        for row in rows:
            row["link"] = rows_link(row["table"], row["filter"], row["first_seen"] is not None)
    return bench.respond(request, "pivot.html", {"title": f"Pivot {value}" if rows is not None else "Pivot",
                                                 "value": value, "rows": rows}, ext)


@router.get("/timeline{ext:path}")
def timeline_page(request: Request, ext: str, entity: str = "", limit: int | None = None) -> Response:
    """Every event naming ``entity`` across the lake's tables and findings, oldest first (``hunting.timeline``)."""
    from winnow.hunting import timeline

    bench = bench_of(request)
    rows = None
    if entity.strip():
        with bench.sql() as con:
            rows = timeline(con, entity.strip(), limit=limit).to_pylist()
    return bench.respond(request, "timeline.html", {"title": f"Timeline {entity}" if rows is not None else "Timeline",
                                                    "entity": entity, "rows": rows}, ext)

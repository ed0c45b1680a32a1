"""The SQL console: one read-only SELECT over the lake (``hunting.query``), and saved queries (name and SQL in
``<lake>/hunts.duckdb`` beside the hunt journals).

``GET /query?sql=`` (or ``?saved=NAME``) fills the form and runs it, so a Stack or Pivot row's link shows its
rows; ``POST /query`` runs the posted SQL (long statements, API callers). A refused or failed statement is a
400 in the one error shape; the page keeps the SQL in its form, with the message.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from winnow.errors import WinnowError
from winnow.store.journal import Journal
from winnow.web.app import bench_of, done, posted, wants_html

router = APIRouter()


def _saved(lake: Any) -> list[dict[str, Any]]:
    with Journal(lake, read_only=True) as journal:
        return journal.saved_queries()


def _run(request: Request, ext: str, sql: str, limit: int | None, name: str = "") -> Response:
    """The page (or twin) of ``sql``'s result; an empty ``sql`` is the form alone."""
    from winnow.hunting import query

    bench = bench_of(request)
    data: dict[str, Any] = {"title": "Query", "sql": sql, "name": name, "columns": None, "rows": None, "error": None}
    if sql.strip():
        try:
            with bench.sql() as con:
                table = query(con, sql, limit)
        except WinnowError as exc:
            if not wants_html(request, ext):
                raise
            data["error"] = str(exc)
        else:
            data["columns"] = table.column_names
            data["rows"] = [list(row.values()) for row in table.to_pylist()]
    data["saved"] = _saved(bench.lake)
    return bench.respond(request, "query.html", data, ext, status=400 if data["error"] else 200)


def _limit(text: str | None) -> int | None:
    if not text:
        return None
    if not text.strip().isdigit():
        raise WinnowError(f"limit {text!r}: a whole number of rows")
    return int(text)


@router.get("/query{ext:path}")
def query_form(request: Request, ext: str, sql: str = "", saved: str = "", limit: int | None = None) -> Response:
    """The console; ``sql`` (or the query saved as ``saved``) is run and its rows shown."""
    if saved:
        with Journal(bench_of(request).lake, read_only=True) as journal:
            sql = journal.saved_query(saved)["sql"]
    return _run(request, ext, sql, limit, saved)


@router.post("/query/saved")
async def save_query(request: Request) -> Response:
    """Save a query (fields: name, sql, analyst); the SQL must be one SELECT, as the console runs."""
    fields = await posted(request)
    name, sql = fields.get("name", "").strip(), fields.get("sql", "")
    await run_in_threadpool(_save, bench_of(request), name, sql, fields.get("analyst"))
    return done(request, {"name": name}, "/query?" + _param("saved", name))


@router.post("/query/saved/delete")
async def delete_query(request: Request) -> Response:
    """Delete a saved query (field: name)."""
    fields = await posted(request)
    name = fields.get("name", "")
    await run_in_threadpool(_delete, bench_of(request).lake, name)
    return done(request, {"deleted": name}, "/query")


@router.post("/query{ext:path}")
async def run_query(request: Request, ext: str) -> Response:
    """Run the posted SQL (fields: sql, limit): the page for a browser, else its JSON twin (as other POSTs)."""
    fields = await posted(request)
    limit = _limit(fields.get("limit"))
    ext = ext if wants_html(request, ext) else ext or ".json"
    return await run_in_threadpool(_run, request, ext, fields.get("sql", ""), limit)


def _save(bench: Any, name: str, sql: str, analyst: str | None) -> None:
    from winnow.triage.ratings import default_analyst

    with bench.sql() as con:
        con.check(sql)  # refuse what the console would refuse, before it is stored
    with Journal(bench.lake) as journal:
        journal.save_query(name, sql, analyst or default_analyst())


def _delete(lake: Any, name: str) -> None:
    with Journal(lake) as journal:
        journal.delete_query(name)


def _param(key: str, value: str) -> str:
    from urllib.parse import urlencode

    return urlencode({key: value})

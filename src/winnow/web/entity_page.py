"""An entity: risk breakdown, findings, timeline across tables, processes, link graph, profiles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from winnow.web.app import bench_of

router = APIRouter()


@router.get("/entity/{value:path}")
def entity_page(request: Request, value: str, type: str | None = None, since: str | None = None,
                until: str | None = None) -> Response:
    """``since``/``until`` (ISO times) set the span of the timeline, graph and processes."""
    from winnow.web.entity_data import entity_data

    ext = ".json" if value.endswith(".json") else ""
    name = value[: -len(ext)] if ext else value
    bench = bench_of(request)
    data = entity_data(bench.engine(), bench.lake, name, type or None, since, until)
    return bench.respond(request, "entity.html", data, ext)

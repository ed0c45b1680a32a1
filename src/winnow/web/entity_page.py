"""An entity: risk breakdown, findings, timeline across tables, processes, link graph, profiles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from winnow.web.app import bench_of

router = APIRouter()


@router.get("/entity/{value:path}")
def entity_page(request: Request, value: str, type: str | None = None) -> Response:
    from winnow.web.entity_data import entity_data

    ext = ".json" if value.endswith(".json") else ""
    name = value[: -len(ext)] if ext else value
    bench = bench_of(request)
    return bench.respond(request, "entity.html", entity_data(bench.lake, name, type or None), ext)

"""Coverage: every feed x reporter and its state (the function behind 'winnow sensors')."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from winnow.web.app import bench_of

router = APIRouter()


@router.get("/sensors{ext:path}")
def sensors_page(request: Request, ext: str, all: bool = False) -> Response:
    from winnow.engine import Window
    from winnow.pipeline.detect import build_detector

    bench = bench_of(request)
    rows = build_detector("sensor_health").coverage(bench.engine(), Window())
    if not all:
        rows = [r for r in rows if r["state"] not in ("ok", "new")] or rows
    return bench.respond(request, "sensors.html", {"title": "Sensors", "rows": rows, "all": all}, ext)

"""A source -> destination pair: connection timeline, interval histogram, period and jitter, sizes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from winnow.web.app import bench_of

router = APIRouter()


@router.get("/beacon{ext:path}")
def beacon_page(request: Request, ext: str, src: str, dst: str, dport: int | None = None) -> Response:
    from winnow.web.beacon_data import beacon_data

    bench = bench_of(request)
    return bench.respond(request, "beacon.html", beacon_data(bench.engine(), bench.lake, src, dst, dport), ext)

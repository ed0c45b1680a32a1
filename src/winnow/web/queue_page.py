"""The queue: entities in review order (expert model, else risk) with why; verdicts with one click."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from winnow.web.app import bench_of, done, posted

router = APIRouter()


@router.get("/queue{ext:path}")
def queue_page(request: Request, ext: str, type: str | None = None, limit: int | None = None) -> Response:
    from winnow.config import current
    from winnow.risk.entities import ENTITY_TYPES
    from winnow.triage.queue import queue

    bench = bench_of(request)
    types = (type,) if type in ENTITY_TYPES else ()
    shown = limit if limit is not None and limit > 0 else current().get("web.queue_rows")
    rows = queue(bench.lake, None, types, shown)
    return bench.respond(request, "queue.html", {"title": "Queue", "rows": rows, "type": type or "",
                                                 "types": list(ENTITY_TYPES)}, ext)


@router.post("/verdict")
async def verdict(request: Request) -> Response:
    """Record a tp/fp verdict (fields: subject, verdict, note, analyst, suppress, undo)."""
    from starlette.concurrency import run_in_threadpool

    from winnow.triage import verdicts

    form = await posted(request)
    bench = bench_of(request)
    subject = form.get("subject", "")
    if form.get("undo"):
        removed = await run_in_threadpool(verdicts.undo, bench.lake, subject, form.get("analyst") or None)
        return done(request, {"removed": removed, "subject": subject}, "/queue")
    rating = await run_in_threadpool(verdicts.record, bench.lake, subject, form.get("verdict", ""),
                                     form.get("note") or None, form.get("analyst") or None,
                                     form.get("suppress") in ("1", "on", "true"))
    return done(request, {"verdict": form.get("verdict"), "rating": rating.to_dict()}, "/queue")

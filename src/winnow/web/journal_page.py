"""Hunt journals: hunts as documents (hypothesis, queries, findings, notes, outcome), exported to Markdown."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from winnow.store.journal import ENTRY_KINDS, OUTCOMES, Journal, to_markdown
from winnow.web.app import bench_of, done, posted

router = APIRouter()


@router.get("/journal{ext:path}")
def journal_list(request: Request, ext: str) -> Response:
    bench = bench_of(request)
    with Journal(bench.lake, read_only=True) as journal:
        hunts = journal.hunts()
    return bench.respond(request, "journal.html", {"title": "Journal", "hunts": hunts}, ext)


@router.get("/hunt/{name}")
def hunt_page(request: Request, name: str) -> Response:
    """A hunt (``/hunt/ID``), its JSON twin (``ID.json``) or its Markdown export (``ID.md``)."""
    hunt_id, dot, ext = name.partition(".")
    bench = bench_of(request)
    with Journal(bench.lake, read_only=True) as journal:
        hunt = journal.hunt(hunt_id)
    if ext == "md":
        return PlainTextResponse(to_markdown(hunt), media_type="text/markdown; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="hunt-{hunt_id}.md"'})
    ext = dot + ext
    return bench.respond(request, "hunt.html", {"title": f"Hunt: {hunt['title']}", "hunt": hunt,
                                                "kinds": list(ENTRY_KINDS), "outcomes": list(OUTCOMES)}, ext)


def _write(lake, action: str, fields: dict[str, str], hunt_id: str | None) -> str:
    from winnow.triage.ratings import default_analyst

    analyst = fields.get("analyst") or default_analyst()
    with Journal(lake) as journal:
        if action == "start":
            return journal.start(fields.get("title", ""), fields.get("hypothesis", ""), analyst)
        if action == "entry":
            journal.add(hunt_id, fields.get("kind", "note"), fields.get("body", ""), analyst)
        else:
            journal.close_hunt(hunt_id, fields.get("outcome", ""), fields.get("conclusion"))
    return hunt_id


@router.post("/journal")
async def start_hunt(request: Request) -> Response:
    """Start a hunt (fields: title, hypothesis, analyst)."""
    fields = await posted(request)
    hunt_id = await run_in_threadpool(_write, bench_of(request).lake, "start", fields, None)
    return done(request, {"hunt_id": hunt_id}, f"/hunt/{hunt_id}")


@router.post("/hunt/{hunt_id}/entry")
async def add_entry(request: Request, hunt_id: str) -> Response:
    """Add a query, a finding (DETECTOR:ENTITY) or a note (fields: kind, body, analyst)."""
    fields = await posted(request)
    await run_in_threadpool(_write, bench_of(request).lake, "entry", fields, hunt_id)
    return done(request, {"hunt_id": hunt_id}, f"/hunt/{hunt_id}")


@router.post("/hunt/{hunt_id}/outcome")
async def set_outcome(request: Request, hunt_id: str) -> Response:
    """Record the outcome (fields: outcome, conclusion)."""
    fields = await posted(request)
    await run_in_threadpool(_write, bench_of(request).lake, "outcome", fields, hunt_id)
    return done(request, {"hunt_id": hunt_id}, f"/hunt/{hunt_id}")

"""The rating session: the card the model is least sure about, rated 1-5 (the functions behind 'winnow rate')."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from winnow.web.app import bench_of, done, posted

router = APIRouter()


def _offered(lake, skip: list[str], synthetic: bool) -> list[dict]:
    from winnow.triage import rating_session

    skipped = {s.lower() for s in skip}
    return [c for c in rating_session.candidates(lake, synthetic) if c["id"].lower() not in skipped]


@router.get("/rate{ext:path}")
def rate_page(request: Request, ext: str, analyst: str | None = None, real: bool = False) -> Response:
    from winnow.triage import rating_session
    from winnow.triage.ratings import RatingStore, default_analyst

    bench = bench_of(request)
    who = analyst or default_analyst()
    skip = request.query_params.getlist("skip")
    with RatingStore(bench.lake, read_only=True) as store:
        ratings = store.all()
    mine = {r.subject.lower() for r in ratings if r.analyst == who}
    offered = [c for c in _offered(bench.lake, skip, not real) if c["id"].lower() not in mine]
    card = rating_session.next_card(offered, ratings)
    return bench.respond(request, "rate.html", {"title": "Rate", "card": card, "analyst": who, "skip": skip,
                                                "real": real, "rated": len(ratings),
                                                "mine": sum(r.analyst == who for r in ratings)}, ext)


@router.post("/rate")
async def rate(request: Request) -> Response:
    """Store a rating (fields: card, rating 1-5, note, analyst)."""
    from winnow.triage import rating_session
    from winnow.triage.ratings import default_analyst

    form = await posted(request)
    bench = bench_of(request)
    wanted = form.get("card", "").lower()
    cards = await run_in_threadpool(_offered, bench.lake, [], True)
    card = next((c for c in cards if c["id"].lower() == wanted), None)
    if card is None:
        raise HTTPException(404, f"no card {form.get('card', '')!r} to rate")
    if form.get("rating") not in ("1", "2", "3", "4", "5"):
        raise HTTPException(400, "rating: give 1 (benign) to 5 (malicious)")
    who = form.get("analyst") or default_analyst()
    stored = await run_in_threadpool(rating_session.rate, bench.lake, card, int(form["rating"]), who,
                                     form.get("note") or None)
    return done(request, {"rating": stored.to_dict()}, "/rate")

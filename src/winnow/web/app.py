"""The FastAPI application: one context per lake, the guard in front, one error shape.

Errors are ``{"ok": false, "error": "..."}`` with the HTTP status (JSON twins and API calls), or
the same message on an HTML page. Requests are served one at a time: the stores are database
files a process may open only one way (read or write) at a time, and this is a one-analyst tool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from winnow.errors import WinnowError
from winnow.web.render import environment, plain
from winnow.web.security import COOKIE, Guard

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
NAV = [("Queue", "/queue"), ("Stack", "/stack"), ("Pivot", "/pivot"), ("Query", "/query"), ("Sensors", "/sensors"),
       ("Rate", "/rate"), ("Journal", "/journal")]


@dataclass
class Workbench:
    """What every page needs: the lake, the configuration in force, the guard and the templates."""

    lake: Path
    config: Any
    guard: Guard
    env: Any = field(default_factory=environment)
    _engine: Any = None

    def engine(self) -> Any:
        """The DuckDB engine over the lake, opened on first use and kept (its views of the lake's tables are
        made once; they read the files present at each query)."""
        from winnow.engine import connect

        if self._engine is None:
            self._engine = connect("duckdb", self.lake)
        return self._engine

    @contextlib.contextmanager
    def sql(self) -> Iterator[Any]:
        """A read-only SQL connection over the lake for one request (the hunting verbs' sandbox): opened per
        request (about 0.1 s), so it sees the tables and findings as they are now."""
        from winnow.engine import open_readonly

        with open_readonly(self.lake) as con:
            yield con

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def respond(self, request: Request, template: str, data: dict[str, Any], ext: str = "",
                status: int = 200) -> Response:
        """The page (``ext`` empty) or its JSON twin (``ext`` ``.json``) of ``data``; ``status`` for the page
        alone (a page that shows its own error keeps its form)."""
        if ext not in ("", ".json"):
            raise HTTPException(404, f"no page {request.url.path}")
        data = plain(data)
        if ext == ".json":
            return JSONResponse({"ok": True, **data})
        page = {"title": "Winnow", **data, "nav": NAV, "csrf": self.guard.csrf(), "path": request.url.path}
        html = self.env.get_template(template).render(**page)
        return HTMLResponse(html, status_code=status)


def create_app(lake: Path | str, guard: Guard | None = None, config: Any = None) -> FastAPI:
    """The workbench over ``lake`` (``config``: the configuration in force, default as loaded for that lake)."""
    from winnow.config import load, use
    from winnow.web import (
        beacon_page,
        entity_page,
        journal_page,
        query_page,
        queue_page,
        rate_page,
        sensors_page,
        stack_page,
    )

    bench = Workbench(Path(lake), config or load(str(lake)), guard or Guard())
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        bench.close()

    app = FastAPI(title="Winnow workbench", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.bench = bench
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    serial = asyncio.Lock()

    @app.middleware("http")
    async def guarded(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host", "")
        if not bench.guard.host_allowed(host):
            return _error(request, 403, f"host {host!r} is not this workbench (bind with --host and a token)")
        presented = (request.query_params.get("token") or request.cookies.get(COOKIE)
                     or request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None)
        if not bench.guard.token_ok(presented):
            return _error(request, 401, "this workbench needs its access token: open the address 'winnow serve' "
                                        "printed (it ends in ?token=...)")
        if request.method not in ("GET", "HEAD") and not bench.guard.same_site(
                request.headers.get("origin"), request.headers.get("sec-fetch-site"), host):
            return _error(request, 403, "cross-site request refused")
        if request.url.path.startswith("/static/"):
            response = await call_next(request)
        else:
            async with serial:
                with use(bench.config):
                    response = await call_next(request)
        if bench.guard.token and request.query_params.get("token"):
            response.set_cookie(COOKIE, bench.guard.token, httponly=True, samesite="strict")
        response.headers.update({"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"})
        return response

    @app.exception_handler(WinnowError)
    async def user_error(request: Request, exc: WinnowError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return _error(request, 400, f"bad request: {problems}")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        return _error(request, 500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/queue", status_code=307)

    for module in (queue_page, entity_page, beacon_page, sensors_page, rate_page, journal_page, stack_page, query_page):
        app.include_router(module.router)
    return app


def _error(request: Request, status: int, message: str) -> Response:
    """The one error shape: JSON for ``.json`` paths and API callers, else a page with the message."""
    if not wants_html(request):
        return JSONResponse({"ok": False, "error": message}, status_code=status)
    bench = request.app.state.bench
    html = bench.env.get_template("error.html").render(message=message, status=status, nav=NAV, path="",
                                                       csrf="", title=f"Error {status}")
    return HTMLResponse(html, status_code=status)


async def posted(request: Request) -> dict[str, str]:
    """The fields of a POST (a form or a JSON object), once its CSRF token is checked."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        fields = {str(k): "" if v is None else str(v) for k, v in (body if isinstance(body, dict) else {}).items()}
    else:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
    token = request.headers.get("x-csrf-token") or fields.pop("csrf", None)
    if not request.app.state.bench.guard.csrf_ok(token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return fields


def done(request: Request, data: dict[str, Any], back: str) -> Response:
    """After a POST: JSON for API callers, else back to the page (303)."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(back, status_code=303)
    return JSONResponse({"ok": True, **plain(data)})


def wants_html(request: Request, ext: str = "") -> bool:
    """Whether the answer is a page (a browser asking for HTML), not JSON."""
    accept = request.headers.get("accept", "")
    return ext != ".json" and not request.url.path.endswith(".json") and "text/html" in accept


def bench_of(request: Request) -> Workbench:
    return request.app.state.bench

"""winnow serve [--lake DIR] [--host 127.0.0.1] [--port N] [--token T]"""

from __future__ import annotations

import click

from winnow.cli.options import lake_option


@click.command("serve")
@lake_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs an access token (--token, or one is "
                   "generated and printed).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: the web.port setting).")
@click.option("--token", default=None, help="Access token for a non-loopback --host (sent once as ?token=).")
def serve(lake: str, host: str, port: int | None, token: str | None) -> None:
    """The hunter's workbench in your browser: queue with one-click verdicts, entities (risk, findings,
    timeline, processes, link graph, profiles), beacons, sensors, rating and hunt journals.

    Every page has a JSON twin (/entity/NAME and /entity/NAME.json). Needs 'pip install winnow[web]'.
    """
    from winnow.config import current
    from winnow.errors import MissingExtraError

    try:
        import uvicorn

        from winnow.web.app import create_app
        from winnow.web.security import guard_for
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("fastapi", "uvicorn", "jinja2", "starlette", "python_multipart"):
            raise
        raise MissingExtraError(exc.name, "web", "winnow serve") from exc
    from winnow.lake import Lake

    Lake.open(lake)
    guard = guard_for(host, token)
    token = guard.token
    port = port if port is not None else current().get("web.port")
    app = create_app(lake, guard, current())
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"winnow workbench on http://{shown}:{port}/" + (f"?token={token}" if token else "")
               + f" (lake {lake}); Ctrl-C stops it", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")

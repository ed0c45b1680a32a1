"""winnow simulate --out DIR [--hosts N] [--days D] [--seed S]"""

from __future__ import annotations

import click

from winnow.cli.progress import progress_bar


@click.command("simulate")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write logs and truth.json.")
@click.option("--hosts", type=click.IntRange(min=5), default=50, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--start", default="2026-11-02", show_default=True, help="First simulated UTC day.")
def simulate(out: str, hosts: int, days: int, seed: int, start: str) -> None:
    """Write realistic Zeek logs (conn, dns, http, ssl) of an enterprise with planted attacks and truth.json."""
    from winnow.sim import simulate as run

    with progress_bar("simulating") as update:
        summary = run(out, hosts=hosts, days=days, seed=seed, start=start, progress=update)
    rows = summary.get("rows", {})
    click.echo(
        f"wrote {', '.join(f'{k} {v:,}' for k, v in rows.items())} rows and truth.json to {out}", err=True
    )

"""winnow simulate --out DIR [--hosts N] [--days D] [--seed S] [--endpoint-share F] [--clock-skew S]
[--no-identity-attacks]"""

from __future__ import annotations

import click

from winnow.cli.progress import progress_bar


@click.command("simulate")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write logs and truth.json.")
@click.option("--hosts", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--start", default="2026-11-02", show_default=True, help="First simulated UTC day.")
@click.option("--endpoint-share", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Share of workstations with endpoint logs (half Sysmon JSON, half auditd); 0 for none.")
@click.option("--clock-skew", type=click.FloatRange(min=0.0), default=3.0, show_default=True,
              help="Bound (s) of each instrumented host's clock offset; events add up to 0.5 s jitter.")
@click.option("--endpoint-loss", type=click.FloatRange(0.0, 1.0), default=0.02, show_default=True,
              help="Share of endpoint network events not logged.")
@click.option("--identity-attacks/--no-identity-attacks", default=True, show_default=True,
              help="Plant password spraying, brute force, roasting and DCSync in the Windows Security logs.")
@click.option("--logons", is_flag=True, help="Also write Windows Security and Linux auth logons (one person per "
              "workstation) with a planted first-time admin logon chain; truth in logons_truth.json.")
def simulate(out: str, hosts: int, days: int, seed: int, start: str, endpoint_share: float, clock_skew: float,
             endpoint_loss: float, identity_attacks: bool, logons: bool) -> None:
    """Write realistic logs of an enterprise with planted attacks, and truth.json listing them.

    Network: Zeek TSV logs (conn, dns, http, ssl) under zeek/<day>/. Endpoint: a share of the
    workstations (--endpoint-share) also log Sysmon events as Windows JSON lines
    (endpoint/<day>/sysmon.json) or Linux auditd (endpoint/<day>/audit.log), and
    endpoint_truth.parquet names the process behind each of their connections. With endpoint logs,
    the domain's Windows Security events (domain controllers, file server, workstations) go to
    endpoint/<day>/security.json, with identity attacks planted unless --no-identity-attacks.
    'winnow ingest' reads the whole folder.
    """
    from winnow.sim import simulate as run

    with progress_bar("simulating") as update:
        summary = run(out, hosts=hosts, days=days, seed=seed, start=start, progress=update,
                      endpoint_share=endpoint_share, clock_skew=clock_skew, endpoint_loss=endpoint_loss,
                      identity_attacks=identity_attacks, logons=logons)
    rows = summary.get("rows", {})
    counts = summary.get("endpoint", {}).get("counts", {})
    events = {k: v for k, v in counts.items() if k.startswith(("sysmon", "auditd")) and v}
    endpoint = f", endpoint events {', '.join(f'{k} {v:,}' for k, v in events.items())}" if events else ""
    click.echo(
        f"wrote {', '.join(f'{k} {v:,}' for k, v in rows.items())} rows{endpoint} and truth.json to {out}", err=True
    )

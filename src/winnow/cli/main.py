"""Entry point: a click group whose subcommands are imported only when used.

``winnow --help`` therefore imports neither pyarrow nor duckdb nor pyspark.
"""

from __future__ import annotations

import importlib
import sys

import click

COMMANDS = {
    "ingest": ("winnow.cli.ingest_cmd", "Ingest log files and folders into the lake."),
    "collect": ("winnow.cli.collect_cmd", "Receive flows over the network into the lake (NetFlow v5/v9, IPFIX)."),
    "lake": ("winnow.cli.lake_cmd", "Show what is in the lake: tables, rows, time range, sources, files, warnings."),
    "detect": ("winnow.cli.detect_cmd", "Run detectors over the lake and store their findings."),
    "attribute": ("winnow.cli.attribute_cmd", "Attribute connections to the processes that made them (net.conn_proc)."),
    "processes": ("winnow.cli.processes_cmd", "Processes by bytes sent and destinations reached (from net.conn_proc)."),
    "hunt": ("winnow.cli.hunt_cmd", "Hunt: stack a column (rarest first), an entity's timeline, pivot on a value."),
    "query": ("winnow.cli.query_cmd", "Run one read-only SQL SELECT over the lake's tables."),
    "sigma": ("winnow.cli.sigma_cmd", "Run a folder of Sigma rules over the lake ad hoc, or check which cannot run."),
    "sensors": ("winnow.cli.sensors_cmd", "Coverage: which hosts and feeds went silent, dropped or have clocks off."),
    "findings": ("winnow.cli.findings_cmd", "List stored findings, highest score first."),
    "risk": ("winnow.cli.risk_cmd", "Entities (hosts, users, addresses, processes) by risk, with what makes it up."),
    "queue": ("winnow.cli.queue_cmd", "Entities to review in order (expert model, else risk), with why and verdicts."),
    "verdict": ("winnow.cli.verdict_cmd", "Record a true/false positive on a finding or entity (optionally suppress)."),
    "rate": ("winnow.cli.rate_cmd", "Rate entities and scenarios 1-5 to teach the expert model; share ratings."),
    "model": ("winnow.cli.model_cmd", "The expert model fitted from ratings: fit, show, export, import."),
    "serve": ("winnow.cli.serve_cmd", "The hunter's workbench in a browser: queue, entities, beacons, journal."),
    "report": ("winnow.cli.report_cmd", "A self-contained HTML report of the top entities and findings."),
    "runs": ("winnow.cli.runs_cmd", "Detection runs and the settings each ran with."),
    "warnings": ("winnow.cli.warnings_cmd", "List problems met while ingesting (bad lines, truncated files)."),
    "intel": ("winnow.cli.intel_cmd", "Check threat intel feeds: formats, indicators by kind, bad records."),
    "simulate": ("winnow.cli.simulate_cmd",
                 "Write simulated network (Zeek) and endpoint (Sysmon, auditd) logs with planted attacks."),
    "demo": ("winnow.cli.demo_cmd", "Simulate a small network, ingest, detect and show the top findings."),
    "sources": ("winnow.cli.registry_cmd", "List the log formats Winnow can read."),
    "detectors": ("winnow.cli.registry_cmd", "List the detectors and their parameters."),
    "engines": ("winnow.cli.registry_cmd", "List the engines and the --engine URLs that select them."),
    "config": ("winnow.cli.config_cmd", "Settings: defaults, the ones in force, and a commented file to edit."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return getattr(module, name.replace("-", "_"))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.version_option(package_name="winnow")
def cli(debug: bool) -> None:
    """Winnow: threat hunting over the logs you already have.

    \b
    Quick start:
      winnow demo                       simulate, ingest, detect, show findings
      winnow ingest LOGS/ --lake LAKE   Zeek (TSV, JSON), NetFlow v5/v9/IPFIX, Argus and
                                        nfdump CSV, Windows EVTX and JSON (Sysmon, Security),
                                        auditd, SSH/auth syslog, Suricata EVE and Snort
                                        alerts; plain, compressed, .zip or .tar(.gz), sniffed
      winnow lake --lake LAKE           what is in the lake: tables, rows, time range
      winnow detect --lake LAKE         run every detector (DuckDB; --engine spark)
      winnow findings --lake LAKE       highest score first (--format jsonl for tools)
      winnow sources                    every log format and the tables it fills
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: user errors print one line and exit 1, usage errors exit 2."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    from winnow.errors import WinnowError

    try:
        code = cli.main(args=args, prog_name="winnow", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("winnow: aborted", err=True)
        code = 1
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except WinnowError as exc:
        if debug:
            raise
        click.echo(f"winnow: error: {exc}", err=True)
        code = 1
    except KeyboardInterrupt:
        click.echo("winnow: interrupted", err=True)
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # a bug, not a user error: one line unless --debug
        if debug:
            raise
        from winnow.engine.base import memory_hint, out_of_memory

        if out_of_memory(exc):  # a resource limit, not a bug
            click.echo(f"winnow: error: {memory_hint()}", err=True)
            sys.exit(1)
        click.echo(f"winnow: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

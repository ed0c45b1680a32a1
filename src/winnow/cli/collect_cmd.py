"""winnow collect netflow --listen HOST:PORT --lake DIR [--flush-rows N] [--flush-seconds S] ..."""

from __future__ import annotations

import click

from winnow.cli.options import lake_option


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:2055)")
    return host.strip("[]") or "0.0.0.0", int(port)


@click.group("collect")
def collect() -> None:
    """Receive flows over the network into the lake."""


@collect.command("netflow")
@click.option("--listen", default="127.0.0.1:2055", show_default=True,
              help="UDP address to listen on (HOST:PORT; [::1]:2055 for IPv6).")
@lake_option
@click.option("--flush-rows", type=click.IntRange(min=1), default=None,
              help="Write to the lake after this many flows (default: the collect.flush_rows setting).")
@click.option("--flush-seconds", type=click.FloatRange(min=0.1), default=None,
              help="Write to the lake at least this often (default: collect.flush_seconds).")
@click.option("--max-buffer", type=click.IntRange(min=1), default=None,
              help="Datagrams queued for decoding; more are dropped and counted (default: collect.max_buffer).")
@click.option("--duration", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds (default: run until SIGINT/SIGTERM).")
@click.option("--sensor", default=None, help="Sensor name for the rows.")
def netflow(listen: str, lake: str | None, flush_rows: int | None, flush_seconds: float | None,
            max_buffer: int | None, duration: float | None, sensor: str | None) -> None:
    """Collect NetFlow v5/v9 and IPFIX export datagrams into net.conn.

    Templates are kept per exporter and observation domain in the lake, shared with
    'winnow ingest' of captures and kept across restarts; data that arrives before its
    template waits for it. Records with no address and no protocol are counted, not
    written. Rows are flushed atomically, and the small parts of many flushes are merged
    (collect.compact_parts at a time, the rest at exit); SIGINT or SIGTERM flushes and exits 0.
    The counters (datagrams received/decoded/malformed/dropped, records, sequence gaps per
    exporter) are printed at the end.
    """
    import signal
    import threading

    from winnow.collect.netflow import NetflowCollector
    from winnow.lake.layout import default_lake_path

    collector = NetflowCollector(_address(listen), lake or default_lake_path(), flush_rows=flush_rows,
                                 flush_seconds=flush_seconds, max_buffer=max_buffer, sensor=sensor)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    host, port = collector.address
    click.echo(f"listening on udp {host}:{port}, writing to {collector.lake.root}", err=True)
    try:
        stats = collector.run(duration, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for line in stats.lines():
        click.echo(line, err=True)

"""The one typed settings table: every setting's name, default, type and meaning, defined here.

Detector parameters are settings too (``<detector>.<parameter>``); they are declared where the
detector is, in its ``__init__`` with a documented default (see :mod:`winnow.detections.base`),
and collected by :func:`detector_settings`. ``winnow config defaults`` prints both,
``winnow config init`` writes them as a commented TOML file.

Types: ``str``, ``path``, ``int``, ``float``, ``bool``, ``size`` (a byte count written as
``512MB``/``4GB``, or empty for "automatic"), ``list[str]``, ``list[int]``, ``cidrs`` (a list of
networks such as ``10.0.0.0/8``) and ``dict[str,float]`` (an inline table of weights,
``{"udp/123" = 0.5}``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: the private address space plus link-local: what "internal" means unless ``networks.internal`` says otherwise
DEFAULT_INTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "169.254.0.0/16", "fe80::/10")


@dataclass(frozen=True)
class Setting:
    """One setting: dotted ``name`` (section.key), its default, type and a one-line meaning.

    ``env`` is the environment variable that sets it; empty means the derived name
    ``WINNOW_<NAME>`` with dots as underscores (``ingest.block_size`` -> ``WINNOW_INGEST_BLOCK_SIZE``).
    ``minimum``: the least value a number may take (a smaller one is a user error naming where it was set).
    """

    name: str
    default: Any
    type: str
    meaning: str
    env: str = ""
    minimum: int | float | None = None

    @property
    def env_var(self) -> str:
        return self.env or "WINNOW_" + self.name.upper().replace(".", "_")

    @property
    def section(self) -> str:
        return self.name.rsplit(".", 1)[0] if "." in self.name else ""


SETTINGS: tuple[Setting, ...] = (
    Setting("lake", "./winnow-lake", "path", "lake folder used when --lake is not given", "WINNOW_LAKE"),
    Setting("engine", "duckdb", "str", "engine used when --engine is not given: duckdb, spark, spark://HOST:PORT"),
    Setting("suppressions", "", "path",
            "allow-list rules (cidr, domain, ja3) applied when findings are read; empty: <lake>/suppressions.toml "
            "(format in scoring/suppress.py)"),
    Setting("networks.internal", DEFAULT_INTERNAL, "cidrs",
            "networks of the monitored side: what internal means where no sensor says (NetFlow, IPFIX, Argus, "
            "Zeek without Site::local_nets). Zeek's local_orig/local_resp win where a sensor marks at least one "
            "end local; a sensor whose flags are all false is ignored. Every detector reads this one definition "
            "of internal"),
    Setting("infrastructure.services", {"udp/67": 0.2, "udp/68": 0.2, "udp/546": 0.2, "udp/547": 0.2,
                                        "udp/123": 0.5, "udp/137": 0.3, "udp/138": 0.3, "udp/1900": 0.2,
                                        "udp/3702": 0.2, "udp/5353": 0.2, "udp/5355": 0.3},
            "dict[str,float]", "network housekeeping services (\"proto/port\" = weight): periodic or failing by "
            "design (DHCP, NTP, NetBIOS, SSDP, WS-Discovery, mDNS, LLMNR); every detector multiplies the score of a "
            "finding about one by its weight and says so"),
    Setting("infrastructure.addresses", ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
                                         "255.255.255.255/32", "::/128", "::1/128", "fe80::/10", "ff00::/8"),
            "cidrs", "destinations that are never an external peer (unspecified, loopback, link-local, multicast, "
            "broadcast): no detector reports them as beacons, long connections, scans or fumbling"),
    Setting("infrastructure.service_names", 0.2, "float",
            "weight of a failed lookup of a service-discovery name (a label starting with '_': DNS-SD "
            "_https._tcp.example.com, Active Directory _ldap._tcp.dc._msdcs.corp, RFC 8552) or of a reverse "
            "lookup (in-addr.arpa, ip6.arpa: most internet addresses have no PTR record): asked and missed by "
            "design, so fumbling multiplies the score of such failures by it and never counts them as a spread"),
    Setting("infrastructure.background", 0.5, "float",
            "weight of what outside sources do to internal hosts without being answered: scans and unanswered "
            "connection failures from the internet (its background scanning of exposed addresses by search "
            "engines, botnets and researchers). scan multiplies an outside scanner's score by it; fumbling its "
            "retries, spreads and campaigns in proportion to the unanswered share of their failures (answered, "
            "login-like sessions keep their full weight). 1 judges them like internal activity"),
    Setting("infrastructure.vendor_services",
            ("microsoft.com", "windowsupdate.com", "windows.com", "msftncsi.com", "msftconnecttest.com", "live.com",
             "office.com", "office.net", "office365.com", "microsoftonline.com", "msedge.net", "bing.com", "msn.com",
             "skype.com", "apple.com", "icloud.com", "mzstatic.com", "aaplimg.com", "google.com", "googleapis.com",
             "gstatic.com", "gvt1.com", "gvt2.com", "mozilla.com", "mozilla.org", "mozilla.net", "firefox.com",
             "ubuntu.com", "canonical.com", "snapcraft.io", "debian.org", "fedoraproject.org", "eset.com",
             "avast.com", "avg.com", "kaspersky.com", "kaspersky-labs.com", "symantec.com", "norton.com",
             "mcafee.com", "sophos.com", "trendmicro.com", "bitdefender.com", "bitdefender.net",
             "malwarebytes.com", "dropbox.com", "dropboxapi.com", "sfx.ms", "adobe.com", "digicert.com",
             "verisign.com",
             "lencr.org", "letsencrypt.org", "sectigo.com", "globalsign.com"),
            "list[str]", "registered domains of operating-system, browser, anti-virus, certificate-status and sync "
            "services whose clients call home on a schedule on every workstation (updates, telemetry, OCSP). A "
            "channel whose TLS server name or HTTP host is one of them or under one is weighted by "
            "infrastructure.vendor_weight (component vendor): still listed, below unknown destinations. Attackers "
            "do abuse some of these (Dropbox, Google APIs) as C2, which is why they are weighted, not dropped; "
            "empty the list to judge them like any destination"),
    Setting("infrastructure.vendor_weight", 0.5, "float",
            "weight of a periodic channel to a listed vendor service (infrastructure.vendor_services)"),
    Setting("profiles.builtin", ("bytes_out", "destinations", "dst_ports", "dns_queries", "logons", "logon_hosts",
                                 "interactive_logons", "failed_logons", "processes"), "list[str]",
            "built-in profiles kept in the lake (winnow.profiles.definitions): bytes out, distinct destinations and "
            "destination ports and DNS queries per internal address, logons, interactive logons (judged by the hour "
            "too) and hosts logged on to per user, failed logons per source, processes started per host, each per "
            "hour"),
    Setting("profiles.custom", (), "records",
            "your own profiles: a list of [name, table, entity column, metric (count, sum:<column>, "
            "distinct:<column>), filter (column=value, column!=value or empty), unit] records, kept per hour like "
            "the built-in ones"),
    Setting("profiles.peer_groups", (), "records",
            "asset groups whose members are each other's peers in the baselines: a list of [group name, pattern, "
            "...] records, a pattern a network (CIDR) for addresses or a shell pattern (kiosk*, srv-*) for host and "
            "user names; a member without history of its own is judged against its group at that hour, and the "
            "group's median is shown as its peers' value (without a group, an address's peers are its /24)"),
    Setting("risk.window", "7d", "str", "findings whose last sighting falls this far before the newest one make up "
            "entity risk (7d, 36h, all); winnow risk --window overrides it"),
    Setting("risk.half_life_hours", 168.0, "float", "hours after which a finding counts half toward entity risk "
            "(age from its last sighting to the end of the window); 0 turns decay off. A week, like risk.window: a "
            "strong finding from the start of the week an analyst reviews still counts half (at 72 h a spray six "
            "days old counted a quarter and its source fell below hosts with several weak recent findings)"),
    Setting("risk.repeat_weight", 0.3, "float", "an entity's 2nd finding from one detector counts this much, the 3rd "
            "its square...: one signal repeated adds at most 1/(1-w) times its best finding"),
    Setting("risk.family_weight", 0.6, "float", "the 2nd detector reading the same kind of data (network, endpoint, "
            "identity, alerts, intel) about an entity counts this much, the 3rd its square...; independent data "
            "sources and ATT&CK tactics count whole"),
    Setting("risk.critical_assets", (), "list[str]", "hosts (names, shell patterns such as dc*) and internal "
            "networks (CIDR) whose risk is multiplied by risk.critical_weight, shown as a modifier"),
    Setting("risk.critical_weight", 1.5, "float", "risk multiplier (on the evidence) of a critical asset"),
    Setting("risk.privileged_users", ("administrator", "admin*", "*-adm", "root", "krbtgt"), "list[str]",
            "accounts (shell patterns, case-insensitive, without domain) whose risk is multiplied by "
            "risk.privileged_weight, shown as a modifier"),
    Setting("risk.privileged_weight", 1.5, "float", "risk multiplier (on the evidence) of a privileged account"),
    Setting("risk.min_finding_score", 0.4, "float",
            "findings scoring below this (info severity) add no risk: every host has a few, and summed they would "
            "rank busy hosts above attacked ones; 0 counts every finding"),
    Setting("risk.target_weight", 0.3, "float",
            "weight of a finding on the entity it names as acted on rather than acting: the destination of a "
            "finding with a source (a scanned server, a C2 address), the server that only logged a source's "
            "attempts (the domain controller recording a spray); the source, user and process count whole"),
    Setting("risk.ran_on_host", ("lateral", "sigma"), "list[str]",
            "detectors whose finding's host is where the attacker's code or session ran (a remote service, a "
            "remote shell, a Sigma rule on the host's own events): that host counts whole even when the finding "
            "names the source it came from, never as a mere target"),
    Setting("triage.analyst", "", "str",
            "name stored with each rating and verdict (empty: the login name of the user running winnow)"),
    Setting("web.port", 8765, "int", "port 'winnow serve' listens on (--port overrides it)"),
    Setting("web.queue_rows", 50, "int", "entities on the workbench's queue page"),
    Setting("web.timeline_rows", 200, "int", "rows of each table on an entity's timeline (the earliest of its "
            "window)"),
    Setting("web.entity_rows", 200_000, "int", "rows of one table read for an entity's page, at most (the "
            "earliest of its window); a busier table's neighbours are counted over these and the page says so"),
    Setting("web.timeline_hours", 24.0, "float", "an entity's timeline, graph and processes cover this many hours "
            "before its last sighting (the page's since/until widen it; no findings: the whole lake)"),
    Setting("web.timeline_padding_hours", 1.0, "float", "and this many hours after its last sighting"),
    Setting("web.graph_neighbours", 12, "int", "busiest neighbours of each kind per table on an entity's link graph"),
    Setting("web.beacon_points", 20000, "int", "connections of a source -> destination pair drawn on the beacon "
            "page, at most (the earliest)"),
    Setting("web.rows_link", 200, "int", "rows the query behind a Stack or Pivot row's link asks for (its LIMIT)"),
    Setting("web.report_entities", 10, "int", "top entities (and their findings) in 'winnow report'"),
    Setting("ingest.workers", 0, "int", "input files parsed at once, each in a worker process (files in parallel, "
            "committed in discovery order: the lake is the same as with 1); 0: one per core; 1: one file after "
            "another in the ingest's own process. A single large file is parsed by one process; --workers "
            "overrides it"),
    Setting("ingest.workers_min_bytes", 32 << 20, "int", "with ingest.workers 0 (one per core), inputs of fewer "
            "bytes than this are parsed in the ingest's own process: starting workers would cost more than they save "
            "(3 EVTX files of 8 MB: 0.37 CPU-s a pass with 2 workers, 0.31 with none)", minimum=0),
    Setting("ingest.max_consecutive_bad", 20, "int", "bad lines in a row after which a file is abandoned"),
    Setting("ingest.block_size", 16 << 20, "int", "bytes of a line-oriented log read and parsed at a time (bounds "
            "memory per file)"),
    Setting("ingest.json_shape_rows", 64, "int", "JSON lines of one shape (the same keys in the same order, values "
            "of the same types) read and mapped column-wise when a block holds at least this many of them; fewer are "
            "read one by one (Windows JSON lines; a very large value reads every line one by one)"),
    Setting("ingest.json_known_shapes", 4, "int", "shapes of a JSON lines block's predecessor (most lines first) "
            "its lines are matched against, one regular expression each, before the shape pass that the other lines "
            "take (cheaper when the shapes repeat; the same rows either way); 0: every line takes the shape pass",
            minimum=0),
    Setting("ingest.auditd_column_events", 16_384, "int", "auditd socket events (SYSCALL + SOCKADDR + PROCTITLE) "
            "gathered and mapped column-wise at a time (bounds memory per file), blocks of plain raw records being "
            "assembled into events column-wise; 0: every record assembled and every event mapped one by one",
            minimum=0),
    Setting("ingest.parse_workers", 0, "int", "threads that prepare the blocks of a log column-wise (Arrow's JSON "
            "reader, regular expressions) ahead of the block being turned into rows, each holding one more block "
            "in memory; 0: on the parsing thread (Windows JSON lines). Helps only with idle cores", minimum=0),
    Setting("ingest.tsv_block_size", 4 << 20, "int", "bytes of a Zeek TSV log parsed at a time, at most "
            "ingest.block_size (smaller blocks reuse memory: less CPU and a lower peak than 16 MB)", minimum=1),
    Setting("ingest.tsv_workers", 1, "int", "threads that parse the next blocks of a Zeek TSV log (Arrow's CSV "
            "reader) while the parsing thread turns the current one into rows, each holding one more block in "
            "memory; 0: on the parsing thread", minimum=0),
    Setting("ingest.arrow_memory_pool", "system", "str", "Arrow's memory pool while an ingest runs, set process-wide "
            "(system, mimalloc, jemalloc; empty: Arrow's own default or $ARROW_DEFAULT_MEMORY_POOL). mimalloc hands "
            "the blocks' buffers back to the system and faults them in again: with the system allocator (5 alternating "
            "runs) a Sysmon JSON ingest took 7.5 % less CPU and 110 MB less memory, auditd 11 % and 84 MB, Zeek TSV "
            "2 % (79 MB more)"),
    Setting("ingest.compression", "snappy", "str", "Parquet compression of lake files (snappy, zstd, gzip, lz4, "
            "brotli, none)"),
    Setting("ingest.commit_rows", 10_000, "int", "a file of this many rows or more is published as soon as it is "
            "written (with the smaller files waiting); smaller files are published together"),
    Setting("ingest.commit_files", 256, "int", "small files published together in one commit, at most"),
    Setting("ingest.commit_seconds", 0.5, "float", "longest a written file waits to be published: a killed ingest "
            "redoes at most this much work"),
    Setting("ingest.thread_bytes", 4 << 20, "int", "files of this many bytes or more are parsed on one thread while "
            "another writes Parquet; smaller ones use one thread"),
    Setting("ingest.write_buffer_bytes", 64 << 10, "int", "bytes of a Parquet part gathered in memory before "
            "they go to its file (one buffer per part being written, allocated whole): Arrow otherwise writes each "
            "page and footer piece with its own system call, about 70 writes and 37 seeks for a part of 59 rows "
            "(a sparse day of an EVTX file); the file's bytes are the same", minimum=0),
    Setting("ingest.share_bytes", 16 << 20, "int", "a file whose rows fit in this many bytes of Arrow memory "
            "(and number fewer than ingest.commit_rows) shares Parquet parts with the other small files of its commit"),
    Setting("memory", "", "size", "DuckDB memory budget such as 4GB; empty: a quarter of physical memory. Work "
            "beyond it spills to a private temporary folder", "WINNOW_MEMORY"),
    Setting("spark.shuffle_partitions", 8, "int", "spark.sql.shuffle.partitions in local mode",
            "WINNOW_SPARK_PARTITIONS"),
    Setting("spark.driver_memory", "4g", "str", "spark.driver.memory in local mode", "WINNOW_SPARK_DRIVER_MEMORY"),
    Setting("spark.verbose", False, "bool", "let the JVM's start-up banner and log4j lines through to standard "
            "error (they never go to standard output)"),
    Setting("attribution.tolerance", 10.0, "float", "seconds an endpoint event may sit from the clock-corrected "
            "connection start (net.conn_proc)"),
    Setting("attribution.search_window", 120.0, "float", "seconds around the raw connection start searched when "
            "learning each host's clock offset"),
    Setting("attribution.exact_within", 1.0, "float", "raw seconds within which a unique full 5-tuple match counts "
            "as exact"),
    Setting("attribution.min_address_share", 0.5, "float", "share of a host's partial-tuple events a source address "
            "must explain to be taken as the host's address"),
    Setting("attribution.events_per_partition", 4_000_000, "int", "endpoint network events (proc.net rows) of a day "
            "per partition of its join; more partitions use less memory"),
    Setting("collect.flush_rows", 100_000, "int", "flows decoded after which the collector writes to the lake"),
    Setting("collect.flush_seconds", 5.0, "float", "longest time decoded flows wait before the collector writes "
            "them"),
    Setting("collect.max_buffer", 50_000, "int", "datagrams queued between the collector's receiver and decoder; "
            "more are dropped and counted"),
    Setting("collect.rcvbuf", 32 << 20, "int", "kernel socket buffer requested by the collector, in bytes (Linux "
            "caps it at net.core.rmem_max)"),
    Setting("collect.compact_parts", 32, "int", "small parts of one table, day and merge level written by the "
            "collector that are merged into one (at shutdown: any two or more)"),
    Setting("collect.compact_bytes", 256 << 20, "int", "most bytes one merge of the collector's parts reads; parts "
            "of compact_bytes / compact_parts bytes or more are left as they are"),
    Setting("hunt.stack_limit", 100, "int", "values 'winnow hunt stack' and hunting.stack() return, rarest first"),
    Setting("hunt.timeline_limit", 1000, "int", "events 'winnow hunt timeline' and hunting.timeline() return, "
            "oldest first"),
    Setting("hunt.query_limit", 1000, "int", "rows 'winnow query' and hunting.query() return at most; the SQL's own "
            "LIMIT applies first"),
)


def _param_docs(cls: type) -> dict[str, str]:
    """``name: meaning`` lines of a class docstring (continuation lines indented deeper are joined)."""
    doc = inspect.getdoc(cls) or ""
    out: dict[str, str] = {}
    current = ""
    for line in doc.splitlines():
        match = re.match(r"^\s{0,4}(\w+): (.+)$", line)
        if match and not line.startswith("        "):
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
        else:
            current = ""
    return out


def type_of(value: Any) -> str:
    """The setting type of a detector parameter's default value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (tuple, list)) for v in value):
            return "records"
        return "list[int]" if value and all(isinstance(v, int) for v in value) else "list[str]"
    return "str"


_DETECTOR_SETTINGS: dict[tuple[str, ...], tuple[Setting, ...]] = {}


def detector_settings() -> tuple[Setting, ...]:
    """Every registered detector's parameters as settings named ``<detector>.<parameter>``."""
    from winnow.detections import detectors

    registered = detectors()
    key = tuple(sorted(registered))
    if key not in _DETECTOR_SETTINGS:
        _DETECTOR_SETTINGS[key] = _collect(registered)
    return _DETECTOR_SETTINGS[key]


def _collect(registered: dict[str, type]) -> tuple[Setting, ...]:
    out = []
    for name, cls in sorted(registered.items()):
        docs = _param_docs(cls)
        for param, value in cls().get_params().items():
            out.append(Setting(f"{name}.{param}", value, type_of(value), docs.get(param, "")))
    return tuple(out)


class KnownSettings(Mapping[str, Setting]):
    """Settings then detector parameters by name; detectors are imported only when a key needs them."""

    def __init__(self) -> None:
        self._base = {s.name: s for s in SETTINGS}
        self._all: dict[str, Setting] | None = None

    def _full(self) -> dict[str, Setting]:
        if self._all is None:
            self._all = {**self._base, **{s.name: s for s in detector_settings()}}
        return self._all

    def __getitem__(self, key: str) -> Setting:
        if key in self._base:
            return self._base[key]
        return self._full()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._base or key in self._full()

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())

    @property
    def base(self) -> dict[str, Setting]:
        """The settings that are not detector parameters (no import needed)."""
        return self._base


def all_settings() -> KnownSettings:
    """Settings then detector parameters, by name."""
    return KnownSettings()


def all_defaults() -> list[dict[str, Any]]:
    """Every setting, then every detector parameter, as rows (setting, default, type, meaning)."""
    return [{"setting": s.name, "default": list(s.default) if isinstance(s.default, tuple) else s.default,
             "type": s.type, "meaning": s.meaning + f" (env {s.env_var})"} for s in all_settings().values()]

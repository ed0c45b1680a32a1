"""Endpoint logs of instrumented workstations (Sysmon, auditd) and the truth of which process made each connection.

Model:
    * A share `share` of the workstations is instrumented, half Windows with Sysmon, half Linux with
      auditd (alternating in a seeded random order; the hosts of the first two planted beacons come
      first, so a Windows and a Linux implant are always watched when `share` > 0). Each has a
      process inventory (`endpoint_procs`): OS services, the user's shell, browser, mail, chat and
      sync clients, and the planted programs of its host (implant, scanner, rclone, tunnel tool).
      The process instances of each day (start, pid, ProcessGuid, parent) are worked out in
      `endpoint_instances`.
    * Every connection whose originator is an instrumented host is assigned to one of its processes
      by role (`assign_roles`: port, DNS name of the destination, planted item) and gives a Sysmon
      event 3 (Initiated=true) or an auditd connect (SYSCALL 42 + SOCKADDR + PROCTITLE; no source
      port, as in real auditd). Every process start gives one Sysmon event 1 or auditd execve event.
    * Inbound: ~6 % of instrumented hosts (at least one per OS) share a folder over SMB; a few
      clients of their chunk open sessions to them during the day (new conn rows), which the server
      logs as Sysmon 3 Initiated=false (`System`) or auditd accept (`smbd`).
    * Clock skew: each host's clock is off by a constant U(-clock_skew, +clock_skew) s; each event
      adds U(-0.5, 0.5) s of jitter; times are truncated to milliseconds as both tools log them.
    * Port reuse: the implant and agents that poll one destination (`REUSE_ROLES`) take their
      source ports from a small per-day pool, so the same 5-tuple recurs minutes to hours apart;
      the chunk's conn (and ssl/http) rows are rewritten accordingly.
    * Loss: a share `loss` of network events is not logged (truth `logged` = false).
    * Endpoint-only connections: loopback connections of the security agent and a few print jobs to
      a printer segment the network sensor does not see (no conn row, no truth row).

Truth (`<out>/endpoint_truth.parquet`, one row per connection and instrumented side):
    uid, ts, host, os, side (src: the process connected; dst: it accepted), pid, process_guid
    (Sysmon ProcessGuid; for auditd "<node>:<pid>:<execve seconds.millis>" as the auditd parser
    builds it), image, logged, skew_s (event time minus conn ts; null when not logged).

Randomness: per-event draws come from the unit's generator `ctx.rng(ENDPOINT)`; per-process values
(pids, start times, guids) from a counter-based hash of (seed, host, slot, lifetime) so a process
that lives across days keeps its identity.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.sim import catalog, frames, transport
from winnow.sim import endpoint_format as fmt
from winnow.sim.beacons import Beacon
from winnow.sim.context import HOUR, US, DayChunk, day_start_us
from winnow.sim.endpoint_instances import JITTER_US, NS, ProcessInstances, mix, mix1
from winnow.sim.endpoint_procs import (
    FIRST_NAMES,
    LAST_NAMES,
    LINUX,
    OPTIONAL_ROLES,
    OS_NAMES,
    REUSE_ROLES,
    SLOTS,
    WINDOWS,
    WINDOWS_ACCOUNTS,
    R,
)
from winnow.sim.exfil import Exfil
from winnow.sim.frames import Frame, Traffic
from winnow.sim.network import World, sub_rng
from winnow.sim.scans import Scan
from winnow.sim.zeek_format import zeek_ids

ENDPOINT = 60  # generator component (context.py uses 1-9 and ATTACKS * 1000 + i)
WRITE_EVENTS = 100_000  # network events rendered at a time (bounds memory)
LOOPBACK = 0x7F000001
PRINTERS = 0xC0A83C00  # 192.168.60.0/24
EPHEMERAL = ((49152, 16384), (32768, 28232))  # Windows, Linux: (first, count)
TRUTH_SCHEMA = pa.schema(
    [
        ("uid", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("host", pa.string()),
        ("os", pa.string()),
        ("side", pa.string()),
        ("pid", pa.int64()),
        ("process_guid", pa.string()),
        ("image", pa.string()),
        ("logged", pa.bool_()),
        ("skew_s", pa.float64()),
    ]
)

def _u32(ip: str) -> int:
    try:
        return int.from_bytes(socket.inet_aton(ip), "big")
    except OSError:
        return 0  # IPv6: never a connection endpoint in the simulation


class EndpointSim(ProcessInstances):
    """Writes the endpoint logs and truth of a simulation, one (day, host chunk) at a time.

    Args:
        world: the frozen world.
        out: simulation output folder.
        share: share of workstations instrumented (0 disables endpoint output).
        clock_skew: bound of each host's constant clock offset, seconds.
        loss: share of network events not logged.
    """

    def __init__(self, world: World, out: Path, share: float = 0.5, clock_skew: float = 3.0,
                 loss: float = 0.02) -> None:
        if not 0.0 <= share <= 1.0 or not 0.0 <= loss <= 1.0 or clock_skew < 0:
            raise ValueError("endpoint_share and endpoint_loss must be in [0, 1], clock_skew >= 0")
        self.world, self.out = world, Path(out)
        self.share, self.clock_skew, self.loss = share, clock_skew, loss
        self.seed = world.seed
        self.day0 = day_start_us(world.start, 0)
        shutil.rmtree(self.out / "endpoint", ignore_errors=True)
        (self.out / "endpoint_truth.parquet").unlink(missing_ok=True)
        self._plan()
        self._tables()
        self.sysmon = fmt.LineWriter(self.out / "endpoint", "sysmon.json")
        self.audit = fmt.LineWriter(self.out / "endpoint", "audit.log")
        self.truth_path = self.out / "endpoint_truth.parquet"
        self._truth: pq.ParquetWriter | None = None
        self.counts = dict.fromkeys(
            ("truth_rows", "logged", "lost", "inbound_conns", "endpoint_only", "sysmon_1", "sysmon_3",
             "auditd_execve", "auditd_connect", "auditd_accept", "reused_ports"), 0)
        self._strings: dict[int, dict] = {}

    @property
    def enabled(self) -> bool:
        """Whether any host is instrumented."""
        return len(self.hosts) > 0

    # ------------------------------------------------------------------ planning
    def _plan(self) -> None:
        w = self.world
        h = w.hosts
        rng = sub_rng(self.seed, 0, ENDPOINT)
        ws = np.flatnonzero(~h.server)
        n = int(round(self.share * len(ws)))
        order = [int(x) for x in rng.permutation(ws)]
        planted = w.extra.get("planted", [])
        first = [b.host for b in planted if isinstance(b, Beacon)][:2]
        order = list(dict.fromkeys(first + order))[:n]
        os_ = np.arange(len(order)) % 2
        server = rng.random(len(order)) < 0.06
        server[2:4] = True  # one Windows and one Linux file server (after the two beacon hosts)
        server[:2] = False
        sort = np.argsort(order, kind="stable")
        self.hosts = np.asarray(order, dtype=np.int64)[sort]
        self.os = os_[sort].astype(np.int8)
        self.server = server[sort]
        self.offset_us = (rng.uniform(-self.clock_skew, self.clock_skew, len(order)) * US).astype(np.int64)[sort]
        self.inst_of_host = np.full(len(h), -1, dtype=np.int64)
        self.inst_of_host[self.hosts] = np.arange(len(self.hosts))
        n_srv = int(h.server.sum())
        self.names = [
            (f"WS{hh - n_srv + 1:05d}.{catalog.CORP_DOMAIN}" if o == WINDOWS else f"lx{hh - n_srv + 1:05d}")
            for hh, o in zip(self.hosts.tolist(), self.os.tolist(), strict=True)
        ]
        first_i = rng.integers(0, len(FIRST_NAMES), len(order))[sort]
        last_i = rng.integers(0, len(LAST_NAMES), len(order))[sort]
        self.users = [f"{FIRST_NAMES[a][0]}{LAST_NAMES[b]}" for a, b in zip(first_i, last_i, strict=True)]
        self.sysmon_pid = (4 * (300 + mix(self.seed, self.hosts, 7) % 900)).astype(np.int64)
        self.record0 = (1000 + mix(self.seed, self.hosts, 8) % 400_000).astype(np.int64)
        self.serial0 = (self.hosts * 10_000_000 + 1000 + mix(self.seed, self.hosts, 9) % 1_000_000).astype(np.int64)
        self.next_record = np.where(self.os == WINDOWS, self.record0, self.serial0)
        # planted programs per instrumented host
        self.implant: dict[int, list[int]] = {}
        self.scans: dict[int, list[Scan]] = {}
        self.uploads: dict[int, Exfil] = {}
        self.tunnels: dict[int, Exfil] = {}
        for item in planted:
            if self.inst_of_host[item.host] < 0:
                continue
            if isinstance(item, Beacon):
                self.implant.setdefault(item.host, []).append(item.dst)
            elif isinstance(item, Scan) and item.kind == "fumble":
                self.implant.setdefault(item.host, []).append(item.dst)
            elif isinstance(item, Scan):
                self.scans.setdefault(item.host, []).append(item)
            elif item.kind == "large_upload":
                self.uploads[item.host] = item
            else:
                self.tunnels[item.host] = item
        for shape in w.extra.get("c2_shapes", []):
            if self.inst_of_host[shape.host] >= 0:
                self.implant.setdefault(shape.host, []).append(shape.dst)
        self.rare_hosts = {"monagent": set(), "licagent": set()}
        for svc in w.extra.get("rare_services", []):
            role = {"monitoring agent": "monagent", "licence check": "licagent"}.get(svc.key)
            if role:
                self.rare_hosts[role].update(int(x) for x in np.flatnonzero(svc.period > 0))

    def _tables(self) -> None:
        """Lookup tables: role of a DNS name, IPv4 integers of the world's addresses, per-OS slot tables."""
        w = self.world
        s = w.sites
        self.ip_u32 = np.array([_u32(ip) for ip in w.ips], dtype=np.int64)
        role = np.full(len(w.names), -1, dtype=np.int16)
        by_key = {"ntp": "w32time", "update": "wuauserv", "telemetry": "diagtrack", "av_sig": "defender",
                  "av_cloud": "edr", "presence": "chat", "monitoring agent": "monagent",
                  "licence check": "licagent", "backup job": "monagent"}
        for svc in [*w.extra.get("services", []), *w.extra.get("rare_services", [])]:
            if svc.key in by_key:
                role[s.name_a[svc.site]] = R[by_key[svc.key]]
        apps = {"outlook": "mail", "calendar": "mail", "sync": "sync", "teams": "chat"}
        for site in w.extra.get("app_sites", []):
            prefix = w.names[int(s.name_a[site])].split(".", 1)[0]
            if prefix in apps:
                role[s.name_a[site]] = R[apps[prefix]]
        for site in w.extra.get("ocsp_sites", []):
            role[s.name_a[site]] = R["cryptsvc"]
        self.role_of_name = role
        self.alias = np.array([[R[sl.alias] if sl.alias else i for i, sl in enumerate(SLOTS[o])] for o in (0, 1)])
        self.epoch = np.array([[sl.epoch for sl in SLOTS[o]] for o in (0, 1)])
        self.delay_us = np.array([[int(sl.delay_s * US) for sl in SLOTS[o]] for o in (0, 1)], dtype=np.int64)
        self.nonblocking = np.array([[sl.nonblocking for sl in SLOTS[o]] for o in (0, 1)])
        optional = [R[r] for r in OPTIONAL_ROLES]
        base = np.ones((2, NS), dtype=bool)
        base[:, optional] = False
        base &= self.alias == np.arange(NS)[None, :]
        self.base_inventory = base
        self.reuse = np.zeros(NS, dtype=bool)
        self.reuse[[R[r] for r in REUSE_ROLES]] = True

    # ------------------------------------------------------------------ roles and ports
    def assign_roles(self, ctx: DayChunk, conn: Frame, rows: np.ndarray, host: np.ndarray,
                     dns: list[Frame]) -> np.ndarray:
        """Role (index into `ROLES`) of outbound conn rows `rows` whose originators are hosts `host`."""
        proto, dport = conn["proto"][rows], conn["dport"][rows]
        dst, name = conn["dst"][rows], conn["name"][rows]
        role = np.full(len(rows), R["browser"], dtype=np.int64)
        udp = proto == catalog.UDP
        role[udp & (dport == 53)] = R["dnscache"]
        role[dport == 123] = R["w32time"]
        role[udp & ((dport == 5353) | (dport == 5355))] = R["dnscache"]  # mDNS, LLMNR: the DNS client
        role[udp & ((dport == 137) | (dport == 138) | (dport == 67) | (dport == 1900))] = R["system"]
        role[dport == 88] = R["lsass"]
        role[(dport == 389) | (dport == 135)] = R["gpsvc"]
        role[dport == 445] = R["system"]
        named = np.flatnonzero(name >= 0)
        by_name = self.role_of_name[name[named]]
        role[named[by_name >= 0]] = by_name[by_name >= 0]
        for h, dsts in self.implant.items():
            role[(host == h) & np.isin(dst, dsts)] = R["implant"]
        for h, e in self.uploads.items():
            role[(host == h) & (dst == e.dst)] = R["uploader"]
        n_int = self.world.n_internal
        for h, scans in self.scans.items():
            for s in scans:
                if s.day != ctx.day:
                    continue
                probe = (host == h) & (dst < n_int) & (conn["orig_bytes"][rows] <= 0)
                probe &= (dst == s.dst) if s.kind == "vertical" else (dport == s.dport)
                role[probe] = R["scanner"]
        for h, e in self.tunnels.items():
            if e.day != ctx.day or not (host == h).any():
                continue
            src_ip = int(self.world.hosts.ip[h])
            uid = [f["uid_a"][(f["src"] == src_ip) & (f["qtype"] == 16)
                              & f["qstr"].is_valid().to_numpy(zero_copy_only=False)] for f in dns]
            role[(host == h) & np.isin(conn["uid_a"][rows], np.concatenate(uid))] = R["tunnel"]
        return role

    def reuse_ports(self, ctx: DayChunk, conn: Frame, rows: np.ndarray, inst: np.ndarray, role: np.ndarray,
                    traffic: Traffic) -> int:
        """Give the TCP connections of port-reusing processes source ports from a small per-day pool.

        Each (host, process, destination) cycles through P ports, P drawn in 4-24 and raised so a cycle
        lasts at least 5 minutes on average: the same 5-tuple then recurs minutes to hours apart (the
        ephemeral-port wraparound of a busy poller). Rewrites conn rows and the ssl/http rows sharing
        their uid; returns the number of rows rewritten.
        """
        pick = np.flatnonzero(self.reuse[role] & (conn["proto"][rows] == catalog.TCP))
        if not len(pick):
            return 0
        r = rows[pick]
        key_inst, key_role, key_dst, ts = inst[pick], role[pick], conn["dst"][r], conn["ts"][r]
        order = np.lexsort((ts, key_dst, key_role, key_inst))
        r, key_inst, key_role, key_dst, ts = r[order], key_inst[order], key_role[order], key_dst[order], ts[order]
        new = np.ones(len(r), dtype=bool)
        new[1:] = (key_inst[1:] != key_inst[:-1]) | (key_role[1:] != key_role[:-1]) | (key_dst[1:] != key_dst[:-1])
        group = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        count = np.diff(np.append(starts, len(r)))
        span_s = np.maximum((np.maximum.reduceat(ts, starts) - np.minimum.reduceat(ts, starts)) / US, 1.0)
        host = self.hosts[key_inst[starts]]
        drawn = 4 + mix(self.seed, host, key_role[starts], key_dst[starts], ctx.day, 21) % 21
        pool = np.maximum(drawn.astype(np.int64), np.ceil(count * 300.0 / span_s).astype(np.int64))
        pos = np.arange(len(r)) - starts[group]
        lo_n = np.array(EPHEMERAL)[self.os[key_inst]]
        port = lo_n[:, 0] + (mix(self.seed, self.hosts[key_inst], key_role, key_dst, ctx.day, pos % pool[group])
                             % lo_n[:, 1].astype(np.uint64)).astype(np.int64)
        conn["sport"][r] = port
        uid_a = conn["uid_a"][r]
        sort = np.argsort(uid_a)
        uid_sorted, port_sorted = uid_a[sort], port[sort]
        for log in ("ssl", "http"):
            for f in traffic.frames[log]:
                at = np.minimum(np.searchsorted(uid_sorted, f["uid_a"]), len(uid_sorted) - 1)
                hit = uid_sorted[at] == f["uid_a"]
                f["sport"][hit] = port_sorted[at[hit]]
        return len(r)

    def _inbound(self, ctx: DayChunk, rng: np.random.Generator, loc: np.ndarray) -> Frame:
        """SMB sessions from a few workstations of the chunk to its instrumented file-sharing hosts."""
        w = self.world
        servers = loc[self.server[loc]]
        ws = ctx.hosts[~w.hosts.server[ctx.hosts]]
        parts = []
        for inst in servers.tolist():
            host = int(self.hosts[inst])
            i = host - int(ctx.hosts[0])
            if not ctx.on[i] or len(ws) < 2:
                continue
            pool = ws[ws != host]
            k = 1 + int(mix(self.seed, host, 31) % 4)
            clients = pool[(mix(self.seed, host, 32, np.arange(k)) % len(pool)).astype(np.int64)]
            a = max(int(ctx.on_start[i]), ctx.day0 + int(w.hosts.work_start[host] * HOUR))
            b = min(int(ctx.on_end[i]), a + int(w.hosts.work_len[host] * HOUR))
            n = int(rng.poisson(1.5 if ctx.weekend else 6.0)) if b > a else 0
            if not n:
                continue
            ts = np.sort(rng.integers(a, b, n))
            parts.append(
                transport.tcp(
                    rng, ts=ts, src=w.hosts.ip[clients[rng.integers(0, k, n)]], dst=int(w.hosts.ip[host]),
                    dport=445, orig_bytes=rng.lognormal(np.log(20_000), 1.2, n).astype(np.int64),
                    resp_bytes=rng.lognormal(np.log(150_000), 1.8, n).astype(np.int64),
                    duration=rng.lognormal(np.log(20 * US), 1.3, n).astype(np.int64),
                    service=catalog.SERVICE_CODE["smb"], failures={catalog.RSTO: 0.02},
                )
            )
        return frames.concat("conn", parts)

    # ------------------------------------------------------------------ one unit
    def observe(self, ctx: DayChunk, traffic: Traffic) -> None:
        """Add inbound sessions and port reuse to a unit's traffic, then write its endpoint logs and truth."""
        if not self.enabled:
            return
        loc = np.flatnonzero((self.hosts >= ctx.hosts[0]) & (self.hosts <= ctx.hosts[-1]))
        if not len(loc):
            return
        w = self.world
        rng = ctx.rng(ENDPOINT)
        conn = frames.concat("conn", traffic.frames["conn"])
        n_before = frames.size(conn)
        inbound = self._inbound(ctx, rng, loc)
        conn = frames.concat("conn", [conn, inbound])
        traffic.frames["conn"] = [conn]
        self.counts["inbound_conns"] += frames.size(inbound)
        n_int = w.n_internal
        src, dst = conn["src"], conn["dst"]
        src_host = np.where(src < n_int, w.host_of_ip[np.minimum(src, n_int - 1)], -1)
        src_inst = np.where(src_host >= 0, self.inst_of_host[np.maximum(src_host, 0)], -1)
        out_rows = np.flatnonzero(src_inst >= 0)
        out_inst = src_inst[out_rows]
        role = self.assign_roles(ctx, conn, out_rows, src_host[out_rows], traffic.frames["dns"])
        self.counts["reused_ports"] += self.reuse_ports(ctx, conn, out_rows, out_inst, role, traffic)
        in_rows = n_before + np.arange(frames.size(inbound))
        in_inst = self.inst_of_host[w.host_of_ip[dst[in_rows]]]
        # every network event: conn row (or -1), instrumented host, role, local/remote addresses
        ev_row = np.concatenate([out_rows, in_rows])
        ev_inst = np.concatenate([out_inst, in_inst])
        ev_role = np.concatenate([role, np.full(len(in_rows), R["smbserver"])])
        ev_accept = np.concatenate([np.zeros(len(out_rows), bool), np.ones(len(in_rows), bool)])
        ts = conn["ts"][ev_row]
        only = self._endpoint_only(ctx, rng, loc)
        self.counts["endpoint_only"] += len(only["inst"])
        n_conn_ev = len(ev_row)
        ev_inst = np.concatenate([ev_inst, only["inst"]])
        ev_role = np.concatenate([ev_role, only["role"]])
        ev_accept = np.concatenate([ev_accept, np.zeros(len(only["inst"]), bool)])
        ts = np.concatenate([ts, only["ts"]])
        slot = self.alias[self.os[ev_inst], ev_role]
        skew = self.offset_us[ev_inst] + rng.integers(-JITTER_US, JITTER_US + 1, len(ts))
        ev_ms = (ts + skew) // 1000
        logged = rng.random(len(ts)) >= self.loss
        logged[n_conn_ev:] = True
        # addresses as seen by the endpoint: local side, remote side
        row = np.concatenate([ev_row, np.zeros(len(only["inst"]), np.int64)])
        c_src, c_dst = self.ip_u32[src[row]], self.ip_u32[dst[row]]
        local_ip = np.where(ev_accept, c_dst, c_src)
        local_port = np.where(ev_accept, conn["dport"][row], conn["sport"][row])
        remote_ip = np.where(ev_accept, c_src, c_dst)
        remote_port = np.where(ev_accept, conn["sport"][row], conn["dport"][row])
        udp = conn["proto"][row] == catalog.UDP
        state = conn["state"][row]
        o = n_conn_ev
        local_ip[o:], local_port[o:] = only["local_ip"], only["local_port"]
        remote_ip[o:], remote_port[o:], udp[o:] = only["remote_ip"], only["remote_port"], False
        state[o:] = catalog.SF
        # processes
        strings = self._chunk_strings(ctx.chunk, loc)
        li = np.searchsorted(loc, ev_inst)
        procs = self._processes(ctx, loc, strings, li, slot, ts)
        keep = np.flatnonzero(logged)
        keep = keep[np.argsort(ev_ms[keep], kind="stable")]
        self._write_events(ctx, loc, strings, procs, dict(
            li=li[keep], slot=slot[keep], ms=ev_ms[keep], accept=ev_accept[keep], udp=udp[keep],
            local_ip=local_ip[keep], local_port=local_port[keep], remote_ip=remote_ip[keep],
            remote_port=remote_port[keep], state=state[keep], exit_rng=rng.integers(3, 15, len(keep)),
        ))
        # truth
        c = slice(0, n_conn_ev)
        t_li, t_slot = li[c], slot[c]
        uid = zeek_ids(conn["uid_a"][ev_row], conn["uid_b"][ev_row], "C")
        is_win = self.os[ev_inst[c]] == WINDOWS
        guid = pa.array(
            np.where(is_win, procs["guid_list"][t_li * NS + t_slot], procs["lguid_list"][t_li * NS + t_slot]),
            pa.string(),
        )
        skew_s = (ev_ms[c] * 1000 - ts[c]) / US
        table = pa.table(
            {
                "uid": uid,
                "ts": pa.array(ts[c], pa.timestamp("us", tz="UTC")),
                "host": strings["computer"].take(pa.array(t_li)),
                "os": pa.array(np.array(OS_NAMES)[self.os[ev_inst[c]]], pa.string()),
                "side": pa.array(np.where(ev_accept[c], "dst", "src"), pa.string()),
                "pid": pa.array(procs["pid"][t_li, t_slot], pa.int64()),
                "process_guid": guid,
                "image": strings["image_arr"].take(pa.array(t_li * NS + t_slot)),
                "logged": pa.array(logged[c]),
                "skew_s": pa.array(skew_s, pa.float64(), mask=~logged[c]),
            },
            schema=TRUTH_SCHEMA,
        )
        if self._truth is None:
            self._truth = pq.ParquetWriter(str(self.truth_path), TRUTH_SCHEMA, compression="zstd")
        self._truth.write_table(table)
        self.counts["truth_rows"] += n_conn_ev
        self.counts["logged"] += int(logged[c].sum())
        self.counts["lost"] += int((~logged[c]).sum())

    def _endpoint_only(self, ctx: DayChunk, rng: np.random.Generator, loc: np.ndarray) -> dict:
        """Loopback connections of the security agent and print jobs: events no network sensor sees."""
        i = self.hosts[loc] - int(ctx.hosts[0])
        on = ctx.on[i]
        n_loop = np.where(on, rng.poisson(3.0, len(loc)), 0)
        n_print = np.where(ctx.present[i], rng.poisson(0.5, len(loc)), 0)
        inst = np.concatenate([np.repeat(loc, n_loop), np.repeat(loc, n_print)])
        j = np.concatenate([np.repeat(i, n_loop), np.repeat(i, n_print)])
        printing = np.arange(len(inst)) >= n_loop.sum()
        a = np.where(printing, ctx.pres_start[j], ctx.on_start[j])
        b = np.where(printing, ctx.pres_end[j], ctx.on_end[j])
        ts = a + (rng.random(len(inst)) * (b - a)).astype(np.int64)
        lo_n = np.array(EPHEMERAL)[self.os[inst]]
        own_ip = self.ip_u32[self.world.hosts.ip[self.hosts[inst]]]
        printer = mix(self.seed, self.hosts[inst], 41).astype(np.int64) & 0xFFFF
        agent_port = mix(self.seed, self.hosts[inst], 42).astype(np.int64) & 0xFFFF
        return {
            "inst": inst,
            "role": np.where(printing, R["spooler"], R["defender"]),
            "ts": ts,
            "local_ip": np.where(printing, own_ip, LOOPBACK),
            "local_port": lo_n[:, 0] + rng.integers(0, lo_n[:, 1]),
            "remote_ip": np.where(printing, PRINTERS + 10 + printer % 40, LOOPBACK),
            "remote_port": np.where(printing, 9100, 6000 + agent_port % 3000),
        }

    # ------------------------------------------------------------------ writing
    def _write_events(self, ctx: DayChunk, loc: np.ndarray, strings: dict, procs: dict, ev: dict) -> None:
        date = (dt.date.fromisoformat(self.world.start) + dt.timedelta(days=ctx.day)).isoformat()
        li, slot = ev["li"], ev["slot"]
        inst = loc[li]
        win_ev = self.os[inst] == WINDOWS
        ex_l, ex_s = np.nonzero(procs["emit"])
        ex_ms = procs["exec_ms"][ex_l, ex_s]
        # record ids / serials: per host, in time order, processes first at equal times
        all_inst = np.concatenate([loc[ex_l], inst])
        all_ms = np.concatenate([ex_ms, ev["ms"]])
        kind = np.concatenate([np.zeros(len(ex_l), np.int8), np.ones(len(inst), np.int8)])
        order = np.lexsort((kind, all_ms, all_inst))
        gaps = 1 + rng_gaps(self.seed, ctx, len(order))
        sorted_inst = all_inst[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_inst[1:] != sorted_inst[:-1]
        csum = np.cumsum(gaps)
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        before = csum[group_start] - gaps[group_start]
        rec_sorted = self.next_record[sorted_inst] + csum - before
        record = np.empty(len(order), dtype=np.int64)
        record[order] = rec_sorted
        last = np.ones(len(order), dtype=bool)
        last[:-1] = sorted_inst[1:] != sorted_inst[:-1]
        self.next_record[sorted_inst[last]] = rec_sorted[last]
        ex_rec, net_rec = record[: len(ex_l)], record[len(ex_l):]
        flat = li * NS + slot
        pid = procs["pid"][li, slot]
        w = np.flatnonzero(win_ev)
        lx = np.flatnonzero(~win_ev)

        def render_windows(w: np.ndarray) -> pa.Array:
            return fmt.sysmon_net_lines(
                ms=ev["ms"][w], record=net_rec[w], computer=strings["computer_json"].take(pa.array(li[w])),
                sysmon_pid=self.sysmon_pid[inst[w]], guid=procs["guid"].take(pa.array(flat[w])), pid=pid[w],
                image=strings["image_json"].take(pa.array(flat[w])), user=strings["user_json"].take(pa.array(flat[w])),
                udp=ev["udp"][w], initiated=~ev["accept"][w], src_ip=ev["local_ip"][w], src_port=ev["local_port"][w],
                dst_ip=ev["remote_ip"][w], dst_port=ev["remote_port"][w],
                src_name=strings["computer_json"].take(pa.array(li[w])),
            )

        def render_linux(lx: np.ndarray) -> pa.Array:
            nb = self.nonblocking[LINUX, slot[lx]] & ~ev["udp"][lx] & ~ev["accept"][lx]
            refused = ev["state"][lx] == catalog.REJ
            exit_code = np.where(ev["accept"][lx], ev["exit_rng"][lx] + 2,
                                 np.where(nb, -115, np.where(refused, -111, 0)))
            uid = strings["uid"][li[lx], slot[lx]]
            stack = (mix(self.seed, flat[lx], 70) & np.uint64(0xFFFFFFF0)).astype(np.int64)
            pointer = fmt.hex_fixed(0x7FFC_0000_0000 + stack, 12, upper=False)
            user_proc = uid >= 1000
            return fmt.audit_net_lines(
                ms=ev["ms"][lx], serial=net_rec[lx], node=strings["computer"].take(pa.array(li[lx])),
                accept=ev["accept"][lx], exit_code=exit_code, fd=ev["exit_rng"][lx], pointer=pointer,
                ppid=procs["ppid"][li[lx], slot[lx]], pid=pid[lx], uid=uid,
                auid=np.where(user_proc, 1000, 4294967295), ses=np.where(user_proc, 2 + ctx.day, 4294967295),
                comm=strings["comm_audit"].take(pa.array(flat[lx])), exe=strings["exe_audit"].take(pa.array(flat[lx])),
                proctitle=strings["title_audit"].take(pa.array(flat[lx])), addr=ev["remote_ip"][lx],
                port=ev["remote_port"][lx],
            )
        # process starts, rendered one by one
        ex_win, ex_lin = [], []
        for k, (a, b) in enumerate(zip(ex_l.tolist(), ex_s.tolist(), strict=True)):
            o = int(self.os[loc[a]])
            ppid_k, pguid = int(procs["ppid"][a, b]), procs["pguid"][a * NS + b]
            f = a * NS + b
            if o == WINDOWS:
                ex_win.append((ex_ms[k], self._sysmon_exec(strings, procs, a, b, f, int(ex_ms[k]), int(ex_rec[k]),
                                                           loc[a], ppid_k, pguid, ctx.day)))
            else:
                uid_k = int(strings["uid"][a, b])
                user_k = uid_k >= 1000
                text = fmt.audit_exec_lines(
                    ms=int(ex_ms[k]), serial=int(ex_rec[k]), node=self.names[loc[a]], ppid=ppid_k,
                    pid=int(procs["pid"][a, b]), uid=uid_k, auid=1000 if user_k else 4294967295,
                    ses=2 + ctx.day if user_k else 4294967295, exe=strings["image"][f],
                    argv=strings["args"][f].split(" "), cwd=strings["cwd"][f],
                    inode=mix1(self.seed, zlib.crc32(strings["image"][f].encode()), 71) % 3_000_000 + 100_000,
                )
                ex_lin.append((ex_ms[k], text))
        self.counts["sysmon_1"] += len(ex_win)
        self.counts["sysmon_3"] += len(w)
        self.counts["auditd_execve"] += len(ex_lin)
        self.counts["auditd_accept"] += int(ev["accept"][lx].sum())
        self.counts["auditd_connect"] += int((~ev["accept"][lx]).sum())
        self._write_sliced(self.sysmon, date, w, ev["ms"], render_windows, ex_win)
        self._write_sliced(self.audit, date, lx, ev["ms"], render_linux, ex_lin)

    @staticmethod
    def _write_sliced(writer: fmt.LineWriter, date: str, idx: np.ndarray, ms: np.ndarray, render,
                      few: list[tuple[int, str]]) -> None:
        """Render and write events `idx` (sorted by time) in slices, merged with the rendered texts `few`."""
        few.sort(key=lambda x: x[0])
        few_ms = np.array([m for m, _ in few], dtype=np.int64)
        texts = [t for _, t in few]
        bounds = [*range(0, len(idx), WRITE_EVENTS), len(idx)]
        if len(bounds) == 1:
            bounds = [0, 0]
        lo = 0
        for k in range(len(bounds) - 1):
            part = idx[bounds[k] : bounds[k + 1]]
            last = k == len(bounds) - 2
            hi = len(few) if last else int(np.searchsorted(few_ms, ms[idx[bounds[k + 1]]], side="left"))
            if len(part) or hi > lo:
                writer.write_merged(date, render(part), ms[part], texts[lo:hi], few_ms[lo:hi])
            lo = hi

    def _sysmon_exec(self, strings: dict, procs: dict, a: int, b: int, f: int, ms: int, record: int, inst: int,
                     ppid: int, pguid: str, day: int) -> str:
        user = strings["user"][f]
        system = user.startswith("NT AUTHORITY")
        logon = WINDOWS_ACCOUNTS.get(user.split("\\")[-1], ("", "", ""))[2] if system else \
            f"0x{mix1(self.seed, int(self.hosts[inst]), day, 72) % 0xFFFFFF + 0x100000:x}"
        image = strings["image"][f]
        p = int(strings["parent_slot"][a, b])
        parent_user = strings["user"][a * NS + int(self.alias[WINDOWS, p])] if p >= 0 else \
            ("NT AUTHORITY\\SYSTEM" if system else user)
        data = {
            "ProcessGuid": procs["guid_list"][f], "ProcessId": str(int(procs["pid"][a, b])), "Image": image,
            "FileVersion": "-", "Description": "-", "Product": "-", "Company": "-",
            "OriginalFileName": image.rsplit("\\", 1)[-1], "CommandLine": strings["args"][f],
            "CurrentDirectory": strings["cwd"][f], "User": user,
            "LogonGuid": "{" + f"{mix1(self.seed, int(self.hosts[inst]), 74) & 0xFFFFFFFF:08x}"
                         + f"-0000-0000-0000-{int(logon, 16):012x}" + "}",
            "LogonId": logon, "TerminalSessionId": "0" if system else "1",
            "IntegrityLevel": "System" if system else "Medium", "Hashes": strings["hashes"][f],
            "ParentProcessGuid": pguid, "ParentProcessId": str(ppid), "ParentImage": strings["parent_img"][f],
            "ParentCommandLine": strings["parent_args"][f], "ParentUser": parent_user,
        }
        return fmt.sysmon_exec_line(ms=ms, record=record, computer=self.names[inst],
                                    sysmon_pid=int(self.sysmon_pid[inst]), data=data)

    # ------------------------------------------------------------------ the end
    def close(self) -> dict:
        """Close the files; returns the summary truth.json keeps under "endpoint"."""
        self.sysmon.close()
        self.audit.close()
        if self._truth is not None:
            self._truth.close()
            self._truth = None
        w = self.world
        hosts = [
            {
                "host": self.names[k],
                "ip": w.ips[int(w.hosts.ip[int(self.hosts[k])])],
                "os": OS_NAMES[int(self.os[k])],
                "clock_offset_s": round(float(self.offset_us[k]) / US, 6),
                "user": self.users[k],
                "smb_server": bool(self.server[k]),
                "implant": int(self.hosts[k]) in self.implant,
            }
            for k in range(len(self.hosts))
        ]
        return {
            "share": self.share,
            "clock_skew_s": self.clock_skew,
            "jitter_s": JITTER_US / US,
            "loss": self.loss,
            "hosts": hosts,
            "conns_attributable": self.counts["truth_rows"],
            "conns_logged": self.counts["logged"],
            "conns_lost": self.counts["lost"],
            "counts": dict(self.counts),
            "truth": str(self.truth_path) if self.counts["truth_rows"] else None,
            "files": self.sysmon.files + self.audit.files,
        }


def rng_gaps(seed: int, ctx: DayChunk, n: int) -> np.ndarray:
    """Record-number gaps (events of other kinds the host logged in between)."""
    return sub_rng(seed, ENDPOINT + 1, ctx.day, ctx.chunk).poisson(1.5, n).astype(np.int64)

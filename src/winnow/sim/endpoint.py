"""Endpoint logs of instrumented workstations (Sysmon, auditd) and the truth of which process made each connection.

Model:
    * A share `share` of the workstations is instrumented, half Windows with Sysmon, half Linux with
      auditd (alternating in a seeded random order; the hosts of the first two planted beacons come
      first, so a Windows and a Linux implant are always watched when `share` > 0). Each has a
      process inventory (`endpoint_procs`): OS services, the user's shell, browser, mail, chat and
      sync clients, and the planted programs of its host (implant, scanner, rclone, tunnel tool).
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
from winnow.sim.endpoint_procs import (
    BOOT,
    BROWSERS,
    FIRST_NAMES,
    FIXED,
    IMPLANT_NAMES,
    LAST_NAMES,
    LINUX,
    LINUX_UIDS,
    OPTIONAL_ROLES,
    OS_NAMES,
    REUSE_ROLES,
    ROLES,
    SESSION,
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
JITTER_US = 500_000
WRITE_EVENTS = 100_000  # network events rendered at a time (bounds memory)
NS = len(ROLES)
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

_M1, _M2, _GOLD = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def mix(*keys: np.ndarray | int) -> np.ndarray:
    """A 64-bit hash of integer keys (arrays broadcast): splitmix64 folded over the keys."""
    arrays = [np.asarray(k).astype(np.int64).astype(np.uint64) for k in keys]
    h = np.zeros(np.broadcast_shapes(*[a.shape for a in arrays]), dtype=np.uint64) + _GOLD
    with np.errstate(over="ignore"):
        for a in arrays:
            z = (h ^ a) + _GOLD
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            h = z ^ (z >> np.uint64(31))
    return h


def mix1(*keys: int) -> int:
    """`mix` of scalar keys, in plain Python (same values as `mix`, much faster for one row)."""
    mask = (1 << 64) - 1
    h = 0x9E3779B97F4A7C15
    for k in keys:
        z = ((h ^ (int(k) & mask)) + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        h = z ^ (z >> 31)
    return h


def unit(h: np.ndarray) -> np.ndarray:
    """Hash values mapped to uniform floats in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _u32(ip: str) -> int:
    try:
        return int.from_bytes(socket.inet_aton(ip), "big")
    except OSError:
        return 0  # IPv6: never a connection endpoint in the simulation


class EndpointSim:
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

    # ------------------------------------------------------------------ per-chunk strings
    def _chunk_strings(self, ci: int, loc: np.ndarray) -> dict:
        """Per (host, slot) text of the instrumented hosts `loc` of chunk `ci` (cached across days)."""
        if ci in self._strings:
            return self._strings[ci]
        w = self.world
        image, args, user, cwd, parent_img, parent_args = [], [], [], [], [], []
        inventory = np.zeros((len(loc), NS), dtype=bool)
        for li, inst in enumerate(loc.tolist()):
            host, o, u = int(self.hosts[inst]), int(self.os[inst]), self.users[inst]
            name = IMPLANT_NAMES[int(mix(self.seed, host, 11) % len(IMPLANT_NAMES))]
            target = self._scan_target(host)
            domain = self.tunnels[host].domain if host in self.tunnels else ""
            code = int(w.hosts.browser[host])
            b_img, b_args = BROWSERS[o][code if code < 3 else 0]
            inventory[li] = self.base_inventory[o]
            inventory[li, R["smbserver"]] = bool(self.server[inst]) and o == LINUX
            inventory[li, R["implant"]] = host in self.implant
            inventory[li, R["monagent"]] = host in self.rare_hosts["monagent"]
            inventory[li, R["licagent"]] = host in self.rare_hosts["licagent"]
            for role, slot in zip(ROLES, SLOTS[o], strict=True):
                img = b_img if role == "browser" else slot.image
                arg = b_args if role == "browser" else slot.args
                img, arg = (t.format(u=u, m=name, t=target, d=domain) for t in (img, arg))
                image.append(img)
                args.append(arg)
                if o == WINDOWS:
                    acct = f"{catalog.CORP_DOMAIN.split('.')[0].upper()}\\{u}" if slot.user == "user" \
                        else WINDOWS_ACCOUNTS.get(slot.user, ("", "", ""))[0]
                    user.append(acct)
                    cwd.append(f"C:\\Users\\{u}\\" if slot.user == "user" else "C:\\Windows\\system32\\")
                else:
                    user.append(str(LINUX_UIDS[slot.user]))
                    cwd.append(f"/home/{u}" if slot.user == "user" else "/")
                parent = slot.parent
                if parent and parent in R:
                    p = SLOTS[o][R[parent]]
                    parent_img.append(p.image)
                    parent_args.append(p.args.format(u=u, m=name, t=target, d=domain))
                else:
                    parent_img.append(parent)
                    parent_args.append(parent)
        L = len(loc)
        win = self.os[loc] == WINDOWS

        def arr(values: list[str]) -> pa.Array:
            return pa.array(values, pa.string())

        def esc(values: list[str]) -> pa.Array:
            return pa.array([fmt.json_text(v) for v in values], pa.string())

        comm = [img.rsplit("/", 1)[-1][:15] for img in image]
        parent_slot = np.array(
            [[R[sl.parent] if sl.parent in R else -1 for sl in SLOTS[o]] for o in self.os[loc].tolist()],
            dtype=np.int64,
        ).reshape(L, NS)
        out = {
            "image": image, "args": args, "user": user, "cwd": cwd, "parent_img": parent_img,
            "parent_args": parent_args, "hashes": [_sha256(self.seed, v) for v in image],
            "image_arr": arr(image), "image_json": esc(image), "user_json": esc(user),
            "exe_audit": arr([fmt.audit_value(v) for v in image]),
            "comm_audit": arr([fmt.audit_value(v) for v in comm]),
            "title_audit": arr([fmt.proctitle_value(a.split(" ")) for a in args]),
            "uid": np.array([int(v) if v.isdigit() else 0 for v in user], dtype=np.int64).reshape(L, NS),
            "inventory": inventory, "parent_slot": parent_slot, "win": win,
            "computer": arr([self.names[i] for i in loc.tolist()]),
            "computer_json": esc([self.names[i] for i in loc.tolist()]),
        }
        self._strings[ci] = out
        return out

    def _scan_target(self, host: int) -> str:
        w = self.world
        for s in self.scans.get(host, []):
            if s.kind == "vertical":
                return f"-p 1-1024 {w.ips[s.dst]}"
            if s.kind == "slow":
                return "-p 22 --scan-delay 240s -iL /tmp/targets.txt"
            first = w.ips[int(s.targets[0])].rsplit(".", 1)[0]
            return f"-p {s.dport} {first}.0/24"
        return ""

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

    def _processes(self, ctx: DayChunk, loc: np.ndarray, strings: dict, li: np.ndarray, slot: np.ndarray,
                   ts: np.ndarray) -> dict:
        """The unit's process instances per (host, slot): existence, start, pid, ProcessGuid, exec event."""
        L = len(loc)
        w = self.world
        day = ctx.day
        o = self.os[loc]
        host = self.hosts[loc]
        i = host - int(ctx.hosts[0])
        always = w.hosts.always_on[host]
        epoch = self.epoch[o]
        delay = self.delay_us[o]
        s_idx = np.arange(NS)[None, :]
        hcol = host[:, None]
        boot_key = np.where(always, 0, day + 1)[:, None]
        boot = np.where(always, self.day0 - (HOUR + unit(mix(self.seed, host, 51)) * 71 * HOUR).astype(np.int64),
                        ctx.on_start[i] - (20 + unit(mix(self.seed, host, day, 52)) * 70).astype(np.int64) * US)
        logon = ctx.pres_start[i] - (150 + unit(mix(self.seed, host, day, 53)) * 50).astype(np.int64) * US
        is_boot = (epoch == BOOT) | (epoch == FIXED)
        key = np.where(is_boot, boot_key, 10_000 + day)
        jitter = (unit(mix(self.seed, hcol, s_idx, key, 54)) * 2 * US).astype(np.int64)
        nominal = np.where(is_boot, boot[:, None], logon[:, None]) + delay + jitter
        nominal_on = np.where(is_boot, (always | ctx.on[i])[:, None], (epoch == SESSION) & ctx.present[i][:, None])
        nominal_on &= strings["inventory"]
        first = np.full((L, NS), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, (li, slot), ts)
        used = first < np.iinfo(np.int64).max
        lead = (1 + unit(mix(self.seed, hcol, s_idx, day, 55)) * 59) * US
        from_conn = first - lead.astype(np.int64)
        start = np.where(nominal_on, nominal, from_conn)
        start = np.where(used & nominal_on & (from_conn < nominal) & (epoch != FIXED), from_conn, start)
        exists = nominal_on | used
        # pids: one range per boot, one per (host, day) for sessions and one-shot tools
        win = (o == WINDOWS)[:, None]
        base_b = (mix(self.seed, hcol, boot_key, 56) % 3000).astype(np.int64)
        base_s = (mix(self.seed, hcol, day, 57) % 3000).astype(np.int64)
        r = (mix(self.seed, hcol, s_idx, key, 58) % 37).astype(np.int64)
        n_win = np.where(is_boot, base_b, 3000 + NS * 37 + base_s) + s_idx * 37 + r
        n_lin = np.where(is_boot, base_b * 30, 200_000 + base_s * 30) + s_idx * 37 + r
        pid = np.where(win, 4 * (64 + n_win), 300 + n_lin)
        pid = np.where(epoch == FIXED, 4, pid)
        # exec events: every instance that starts today (boot processes of always-on hosts on day 0 only)
        emit = exists & (epoch != FIXED) & ~(is_boot & always[:, None] & (day > 0))
        emit &= self.alias[o] == s_idx
        exec_ms = (start + self.offset_us[loc][:, None]
                   + ((unit(mix(self.seed, hcol, s_idx, key, 59)) - 0.5) * 2 * JITTER_US).astype(np.int64)) // 1000
        start_s = start // US
        tail = mix(self.seed, hcol, s_idx, key, 60)
        machine = mix(self.seed, hcol, 61) % np.uint64(1 << 32)
        flat = lambda a: a.reshape(-1)  # noqa: E731
        guid = fmt._join(
            "{", fmt.hex_fixed(flat(np.broadcast_to(machine, (L, NS))), 8, upper=False), "-",
            fmt.hex_fixed(flat(start_s >> 16), 4, upper=False), "-", fmt.hex_fixed(flat(start_s), 4, upper=False),
            "-", fmt.hex_fixed(flat(pid), 4, upper=False), "-", fmt.hex_fixed(flat(tail), 12, upper=False), "}",
        ) if L else pa.array([], pa.string())
        node = np.repeat(np.array([self.names[k] for k in loc.tolist()], dtype=object), NS)
        lguid = node + ":" + flat(pid).astype(str).astype(object) + ":" + (flat(exec_ms) // 1000).astype(str).astype(
            object) + "." + np.char.zfill((flat(exec_ms) % 1000).astype(str), 3).astype(object)
        procs = {"exists": exists, "start": start, "pid": pid, "emit": emit, "exec_ms": exec_ms, "key": key,
                 "guid": guid, "guid_list": np.array(guid.to_pylist(), dtype=object), "lguid_list": lguid,
                 "ppid": np.zeros((L, NS), dtype=np.int64), "pguid": np.full(L * NS, "", dtype=object)}
        for a, b in zip(*np.nonzero(exists), strict=True):
            o_a = int(o[a])
            procs["ppid"][a, b], procs["pguid"][a * NS + b] = self._parent(strings, procs, int(a), int(b), o_a,
                                                                           int(host[a]))
        return procs

    def _parent(self, strings: dict, procs: dict, lj: int, s: int, o: int, host: int) -> tuple[int, str]:
        """Parent pid and ProcessGuid of process (lj, s)."""
        p = int(strings["parent_slot"][lj, s])
        if p >= 0:
            p = int(self.alias[o, p])
            guid = procs["guid_list"][lj * NS + p] if o == WINDOWS else procs["lguid_list"][lj * NS + p]
            return int(procs["pid"][lj, p]), guid
        path = strings["parent_img"][lj * NS + s]
        if o == LINUX and path == "/sbin/init":
            return 1, ""
        h = mix1(self.seed, host, int(procs["key"][lj, s]), 62, len(path))
        pid = 4 * (70 + h % 900) if o == WINDOWS else 900 + h % 5000
        guid = f"{{{h >> 32:08x}-{h & 0xFFFF:04x}-{(h >> 16) & 0xFFFF:04x}-0000-{pid:012x}}}"
        return pid, guid

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


def _sha256(seed: int, image: str) -> str:
    """A stable stand-in for the SHA256 of an executable (Sysmon's Hashes field)."""
    digest = mix1(seed, zlib.crc32(image.encode()), 73)
    return "SHA256=" + "".join(f"{mix1(digest, k):016X}" for k in range(4))


def rng_gaps(seed: int, ctx: DayChunk, n: int) -> np.ndarray:
    """Record-number gaps (events of other kinds the host logged in between)."""
    return sub_rng(seed, ENDPOINT + 1, ctx.day, ctx.chunk).poisson(1.5, n).astype(np.int64)


def _within(per: np.ndarray) -> np.ndarray:
    """0, 1, ..., per[i] - 1 for each i, concatenated."""
    if not len(per):
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(per) - per
    return np.arange(int(per.sum())) - np.repeat(starts, per)

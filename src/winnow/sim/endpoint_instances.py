"""Process instances of instrumented workstations: who runs on each host, with which pid and ProcessGuid.

`endpoint_procs` says which program plays each role on each OS; this module turns that catalogue
into the processes of the simulated hosts, for `endpoint.EndpointSim` (which inherits
`ProcessInstances`):
    * per host chunk (cached across days), the text of every (host, process slot): image, command
      line, account, working directory, parent, Sysmon hash, and the rendered/escaped forms the
      Sysmon and auditd writers take, plus which slots the host runs at all (its inventory);
    * per unit (day, chunk), which instances exist, when they started (at boot, at logon, or shortly
      before their first connection), their pids, Sysmon ProcessGuids and auditd process ids, their
      parents, and which of them log a process start that day.

Per-process values come from `mix`, a counter-based hash of (seed, host, slot, lifetime), so a
process that lives across days keeps its identity; `mix1` and `unit` are its scalar and [0, 1)
forms.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

from winnow.sim import catalog
from winnow.sim import endpoint_format as fmt
from winnow.sim.context import HOUR, US, DayChunk
from winnow.sim.endpoint_procs import (
    BOOT,
    BROWSERS,
    FIXED,
    IMPLANT_NAMES,
    LINUX,
    LINUX_UIDS,
    ROLES,
    SESSION,
    SLOTS,
    WINDOWS,
    WINDOWS_ACCOUNTS,
    R,
)
from winnow.sim.exfil import Exfil
from winnow.sim.network import World
from winnow.sim.scans import Scan

JITTER_US = 500_000  # bound of each event's clock jitter (process starts here, network events in `endpoint`)
NS = len(ROLES)  # process slots per host

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


class ProcessInstances:
    """Process text and process instances of the instrumented hosts (a part of `endpoint.EndpointSim`).

    Uses the host plan `EndpointSim` sets up: the instrumented hosts with their OS, name, user,
    clock offset and planted programs, the per-OS slot tables, and the `_strings` cache.
    """

    world: World
    seed: int
    day0: int
    hosts: np.ndarray
    os: np.ndarray
    server: np.ndarray
    offset_us: np.ndarray
    names: list[str]
    users: list[str]
    implant: dict[int, list[int]]
    scans: dict[int, list[Scan]]
    tunnels: dict[int, Exfil]
    rare_hosts: dict[str, set[int]]
    alias: np.ndarray
    epoch: np.ndarray
    delay_us: np.ndarray
    base_inventory: np.ndarray
    _strings: dict[int, dict]

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

    # ------------------------------------------------------------------ processes
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


def _sha256(seed: int, image: str) -> str:
    """A stable stand-in for the SHA256 of an executable (Sysmon's Hashes field)."""
    digest = mix1(seed, zlib.crc32(image.encode()), 73)
    return "SHA256=" + "".join(f"{mix1(digest, k):016X}" for k in range(4))

"""Named pipes (Sysmon 17/18, ``proc.pipe``): tools' default pipes, unmanaged PowerShell, getsystem, RPC enumeration.

Sysmon logs a pipe on the machine it lives on. A client opening ``\\\\dc1\\pipe\\srvsvc`` is logged on DC1, where the
SMB server opens the pipe in the kernel: the image is ``System`` and the client is not named. A workstation shows its
processes' local RPC calls (``\\wkssvc`` for the domain, ``\\lsass``, the pipe behind samr/lsarpc/netlogon, for
names), a server what remote clients reached. Components (score: the strongest plus ``extra_weight`` per other one):

* **tool**: a pipe name an attack tool uses by default (``tool_pipes``, shell patterns, case-insensitive): PsExec's
  ``\\PSEXESVC`` and ``<service>-<host>-<pid>-stdin/stdout/stderr`` (a renamed service too), PAExec, RemCom, CSExec,
  Cobalt Strike's defaults (``MSSE-*-server``, ``msagent_*``, ``postex_*``, ``status_*``) and the Windows look-alikes
  of public malleable profiles (``wkssvc_*``, ``ntsvcs_*``...), Covenant, PoshC2, Koh, kekeo's tsssp server,
  WCE/fgdump, and the ``<x>\\pipe\\<name>`` trick of the Potato exploits (PrintSpoofer, EfsPotato, RoguePotato);
* **powershell**: a ``\\PSHost.*`` pipe (every PowerShell host makes one) from an image not in ``powershell_hosts``,
  or from one run out of a user-writable folder: PowerShell loaded into another process (unmanaged PowerShell);
* **impersonation**: a pipe a shell (``impersonation_clients``) connected to, unless a Windows service made it, the
  getsystem of Meterpreter and Cobalt Strike (``cmd /c echo x > \\\\.\\pipe\\x``, rundll32), on the shell and on the
  process that made the pipe; or (``served_score``) a pipe made by an unusual image that a client reached over SMB or
  the loopback (``System`` connected): Potato and Decoder impersonation, an SMB beacon;
* **rpc**: connections to the RPC pipes of discovery and remote execution (``rpc_pipes``) by a process that is not a
  Windows service (``system_images`` run from System32/SysWOW64): ``rpc_unusual``, ``rpc_admin`` (explorer, mmc:
  administrators browse) or ``rpc_other``, plus ``fanout_weight`` per distinct pipe after the first (``full_fanout``);
* **sweep**: ``System`` opening ``sweep_pipes`` distinct pipes within ``sweep_seconds``: a client probing which pipes
  a host has. One remote srvsvc (NetSessionEnum, a share listing) looks like any user opening a share: not judged;
* **odd_name**: an unusual image making a pipe with a random-looking name (6-16 letters and digits mixing upper case,
  lower case and digits) or a Windows RPC pipe's name: weak on purpose.

*Unusual* images are script hosts and LOLBins (``script_images``), images under a user-writable folder
(``user_writable``, which adds ``writable_bonus`` to tool, powershell and impersonation) and Windows service names
outside System32 (a masquerade). One finding per (host, process: Sysmon ProcessGuid, else image); the evidence lists
the pipes behind it with counts, event ids, record ids and first/last times.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._slots import two_grids
from winnow.detections._windows_paths import USER_WRITABLE
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

#: default tool pipes (lower case, leading backslash) -> the tool they belong to
TOOL_LABELS = {
    **dict.fromkeys(("\\psexesvc*", "\\*-*-[0-9]*-stdin", "\\*-*-[0-9]*-stdout", "\\*-*-[0-9]*-stderr"), "PsExec"),
    "\\paexec*": "PAExec", "\\remcom*": "RemCom", "\\csexecsvc*": "CSExec",
    **dict.fromkeys(("\\msse-*-server", "\\msagent_*", "\\postex_*", "\\status_*", "\\interprocess_*"),
                    "Cobalt Strike"),
    **dict.fromkeys(("\\lsarpc_*", "\\samr_*", "\\netlogon_*", "\\srvsvc_*", "\\wkssvc_*", "\\ntsvcs_*", "\\scerpc_*",
                     "\\spoolss_*", "\\msrpc_*", "\\win\\msrpc_*", "\\fullduplex_*", "\\windows.update.manager*"),
                    "Cobalt Strike malleable profiles"),
    "\\gruntsvc": "Covenant", "\\jaccdpqnvbrrxlaf": "PoshC2", "\\posh*": "PoshC2",
    "\\imposecost": "Koh", "\\imposingcost": "Koh", "\\kekeo_tsssp_endpoint": "kekeo",
    **dict.fromkeys(("\\cachedump*", "\\lsadump*", "\\wceservicepipe*"), "credential dumpers (fgdump, WCE)"),
    "*\\pipe\\*": "Potato privilege escalation",
}
#: what each RPC pipe is used for, in a finding's why
PURPOSE = {
    "srvsvc": "share and session enumeration", "samr": "user and group enumeration", "lsarpc": "SID lookups",
    "lsass": "user, group and SID lookups", "wkssvc": "logged-on users", "netlogon": "domain controller lookups",
    "svcctl": "remote services", "ntsvcs": "remote services", "atsvc": "remote scheduled tasks",
    "winreg": "remote registry", "spoolss": "printer coercion", "eventlog": "event log access",
    "epmapper": "endpoint lookups", "drsuapi": "replication", "efsrpc": "EFS coercion",
}
ANONYMOUS = ("<anonymous pipe>", "&lt;anonymous pipe&gt;")
SYSTEM_DIRS = ("\\windows\\system32\\", "\\windows\\syswow64\\")
_RANDOM = re.compile(r"\\(?=[^\\]*[a-z])(?=[^\\]*[A-Z])(?=[^\\]*[0-9])[A-Za-z0-9]{6,16}")
EXAMPLES = 20


def glob_regex(pattern: str) -> str:
    """A shell pattern (``*``, ``?``, ``[0-9]``) as a regular expression RE2 and Java read alike."""
    return "".join(".*" if c == "*" else "." if c == "?" else c if c.isalnum() or c in "[]_-" else
                   "\\\\" if c == "\\" else "\\^" if c == "^" else f"[{c}]" for c in pattern)


@register
class NamedPipes(Detector):
    """Args:
    tool_pipes: pipe names attack tools use by default (shell patterns, case-insensitive, with the leading backslash).
    rpc_pipes: RPC pipes of discovery and remote execution (no backslash; lsass serves samr, lsarpc and netlogon).
    system_images: Windows service images (file names) whose RPC connections are routine, run from System32/SysWOW64.
    admin_images: images administrators browse shares and computers with (their RPC connections weigh little).
    script_images: script hosts and LOLBins, unusual images wherever they are.
    user_writable: path fragments (lower case) of user-writable folders; images there are unusual.
    powershell_hosts: images that host PowerShell themselves (their PSHost pipes are not unmanaged PowerShell).
    impersonation_clients: images whose connection to a pipe no Windows service made is getsystem's shape.
    tool_score: sub-score of a tool's default pipe.
    powershell_score: sub-score of PowerShell hosted in another process.
    impersonation_score: sub-score of a pipe a shell connected to (getsystem), on the shell and the pipe's maker.
    served_score: sub-score of an unusual image's pipe that a client reached over SMB (System connected).
    rpc_unusual: RPC sub-score of an unusual image.
    rpc_admin: RPC sub-score of admin_images.
    rpc_other: RPC sub-score of any other image.
    fanout_weight: added to the RPC sub-score for each distinct RPC pipe after the first.
    full_fanout: distinct RPC pipes at which the fan-out stops adding.
    sweep_pipes: distinct pipes System must open within sweep_seconds to be a remote sweep.
    sweep_seconds: window of a sweep, in seconds (two grids of windows, half a window apart).
    sweep_score: sub-score of a sweep of sweep_pipes pipes (up to 0.1 more at twice as many).
    odd_score: sub-score of a random-looking or system-named pipe made by an unusual image.
    writable_bonus: added to tool, powershell and impersonation when the image is in a user-writable folder.
    extra_weight: added to the strongest sub-score for each other component.
    min_score: findings scoring below this are left out.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "pipes"
    description: ClassVar[str] = (
        "named pipes (Sysmon 17/18): attack tools' default pipes (PsExec, Cobalt Strike...), unmanaged PowerShell, "
        "getsystem pipe impersonation, RPC enumeration pipes opened by unusual processes, remote pipe sweeps"
    )
    tables: ClassVar[tuple[str, ...]] = ("proc.pipe",)

    def __init__(self, tool_pipes: tuple[str, ...] = tuple(TOOL_LABELS), rpc_pipes: tuple[str, ...] = tuple(PURPOSE),
                 system_images: tuple[str, ...] = (
                     "lsass.exe", "services.exe", "svchost.exe", "spoolsv.exe", "wininit.exe", "winlogon.exe",
                     "csrss.exe", "smss.exe", "wmiprvse.exe", "searchprotocolhost.exe", "searchindexer.exe",
                     "dsregcmd.exe", "taskhostw.exe", "dllhost.exe", "msiexec.exe", "gpupdate.exe", "wsmprovhost.exe",
                     "dfsrs.exe", "dns.exe", "ismserv.exe", "lsm.exe", "sihost.exe"),
                 admin_images: tuple[str, ...] = ("explorer.exe", "mmc.exe", "servermanager.exe"),
                 script_images: tuple[str, ...] = (
                     "powershell.exe", "pwsh.exe", "powershell_ise.exe", "cmd.exe", "wscript.exe", "cscript.exe",
                     "mshta.exe", "rundll32.exe", "regsvr32.exe", "msbuild.exe", "installutil.exe", "wmic.exe",
                     "net.exe", "net1.exe", "nltest.exe", "python.exe", "java.exe"),
                 user_writable: tuple[str, ...] = USER_WRITABLE,
                 powershell_hosts: tuple[str, ...] = (
                     "powershell.exe", "pwsh.exe", "powershell_ise.exe", "wsmprovhost.exe", "wmiprvse.exe",
                     "sdiagnhost.exe", "servermanager.exe", "dsac.exe", "sqlps.exe", "w3wp.exe"),
                 impersonation_clients: tuple[str, ...] = ("cmd.exe", "rundll32.exe"),
                 tool_score: float = 0.9, powershell_score: float = 0.85, impersonation_score: float = 0.75,
                 served_score: float = 0.65, rpc_unusual: float = 0.5, rpc_admin: float = 0.1, rpc_other: float = 0.25,
                 fanout_weight: float = 0.1, full_fanout: int = 3, sweep_pipes: int = 8, sweep_seconds: int = 10,
                 sweep_score: float = 0.65, odd_score: float = 0.4, writable_bonus: float = 0.05,
                 extra_weight: float = 0.05, min_score: float = 0.4, limit: int = 500) -> None:
        vars(self).update({k: v for k, v in locals().items() if k != "self"})  # every parameter, as given

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        table = engine.table("proc.pipe", window)
        if table is None:
            return []
        rows = self._prepared(table)
        procs: dict[tuple, dict] = {}
        for r in fetch(self._candidates(rows)).to_pylist():
            procs.setdefault((r["host"] or "", r["key"]), {"rows": [], "sweep": None})["rows"].append(r)
        for r in sorted(fetch(self._sweeps(rows)).to_pylist(), key=lambda r: (-r["pipes"], r["first"])):
            proc = procs.setdefault((r["host"] or "", r["key"]), {"rows": [], "sweep": None})
            proc["sweep"] = proc["sweep"] or r  # the widest sweep, then the earliest
        findings = [f for f in (self._finding(host, key, p) for (host, key), p in sorted(procs.items()))
                    if f is not None and f.score >= self.min_score]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _prepared(self, t: ir.Table) -> ir.Table:
        low = t.image.fill_null("").lower()
        base, pipe = low.re_extract(r"([^\\]*)$", 1), t.pipe_name.lower()
        in_system = (low == "system") | ibis.or_(*(low.contains(d) for d in SYSTEM_DIRS))
        system = (low == "system") | (base.isin(self.system_images) & in_system)
        unusual = ibis.or_(base.isin(self.script_images), base.isin(self.system_images) & ~in_system,
                           *(low.contains(w) for w in self.user_writable))
        return t.mutate(pname=pipe, low=low, base=base, system=system, unusual=unusual,
                        key=ibis.coalesce(t.process_guid, t.image, ibis.literal("?")),
                        named=t.pipe_name.notnull() & ~pipe.isin(ANONYMOUS))

    def _candidates(self, rows: ir.Table) -> ir.Table:
        """Per (host, process, action, pipe): the rows a component may judge, with who else connected to the pipe."""
        rpc_names = [f"\\{p.lower()}" for p in self.rpc_pipes]
        tools = "^(?:" + "|".join(glob_regex(p.lower()) for p in self.tool_pipes) + ")$"
        create, connect = rows.action == "create", rows.action == "connect"
        rpc, pshost = rows.pname.isin(rpc_names), rows.pname.startswith("\\pshost.")
        shell = rows.named & connect & rows.base.isin(self.impersonation_clients) & ~rpc & ~pshost
        callers = rows.filter(shell | (rows.named & connect & (rows.low == "system")))
        callers = callers.group_by(["host", "pname"]).aggregate(
            shell=ibis.ifelse(callers.low == "system", ibis.null("string"), callers.base).max(),
            by_smb=ibis.ifelse(callers.low == "system", 1, 0).max())
        made = rows.filter(create & rows.system).semi_join(callers, ["host", "pname"])
        callers = callers.left_join(made.select("host", "pname", by_service=ibis.literal(1)).distinct(),
                                    ["host", "pname"]).select(callers, "by_service")
        rows = rows.left_join(callers, ["host", "pname"]).select(rows, "shell", "by_smb", "by_service")
        getsystem = rows.shell.notnull() & rows.by_service.isnull()
        odd = create & rows.unusual & (rows.pipe_name.re_search(r"^\\[A-Za-z0-9]{6,16}$") | rpc)
        keep = rows.named & (rows.pname.re_search(tools) | (pshost & create) | (rpc & connect & ~rows.system) | odd
                             | (shell & rows.by_service.isnull()) | (create & getsystem)
                             | (create & rows.unusual & (rows.by_smb == 1)))
        kept = rows.filter(keep)
        return kept.group_by(["host", "key", "action", "pname"]).aggregate(
            image=kept.image.max(), name=kept.pipe_name.min(), events=kept.count(), first=kept.ts.min(),
            last=kept.ts.max(), event_id=kept.event_id.min(), pid=kept.pid.min(), user=kept.user.max(),
            records=kept.record_id.collect(), shell=kept.shell.max(), by_smb=kept.by_smb.max(),
            by_service=kept.by_service.max())

    def _sweeps(self, rows: ir.Table) -> ir.Table:
        """Windows of sweep_seconds (two grids) in which System opened at least sweep_pipes distinct pipes."""
        sys = rows.filter((rows.low == "system") & (rows.action == "connect") & rows.named)
        grids = two_grids(sys, int(self.sweep_seconds))
        per_pipe = grids.group_by(["host", "key", "grid", "slot", "pname"]).aggregate(
            n=grids.count(), first=grids.ts.min(), last=grids.ts.max(), record=grids.record_id.min(),
            image=grids.image.max())
        per_slot = per_pipe.group_by(["host", "key", "grid", "slot"]).aggregate(
            pipes=per_pipe.count(), names=per_pipe.pname.collect(), events=per_pipe.n.sum(), image=per_pipe.image.max(),
            first=per_pipe.first.min(), last=per_pipe.last.max(), records=per_pipe.record.collect())
        return per_slot.filter(per_slot.pipes >= self.sweep_pipes)

    def _finding(self, host: str, key: str, proc: dict) -> Finding | None:
        rows, sweep = sorted(proc["rows"], key=lambda r: (r["first"], r["action"], r["pname"])), proc["sweep"]
        image = (rows[0]["image"] if rows else sweep["image"]) or key
        low = image.lower()
        base = low.rsplit("\\", 1)[-1]
        system = low == "system" or (base in self.system_images and any(d in low for d in SYSTEM_DIRS))
        masquerade = base in self.system_images and not system
        writable = any(w in low for w in self.user_writable)
        unusual, bonus = writable or masquerade or base in self.script_images, self.writable_bonus * writable
        tools = [(p, re.compile(glob_regex(p.lower()))) for p in self.tool_pipes]
        rpc_names = {p.lower() for p in self.rpc_pipes}
        hits: dict[str, list[tuple[dict, str]]] = {}
        for r in rows:
            create, bare, pshost = r["action"] == "create", r["pname"].lstrip("\\"), r["pname"].startswith("\\pshost.")
            tool = next((p for p, rx in tools if rx.fullmatch(r["pname"])), None)
            if tool is not None:
                hits.setdefault("tool", []).append((r, TOOL_LABELS.get(tool.lower(), "listed in pipes.tool_pipes")))
            if create and pshost and (base not in self.powershell_hosts or writable):
                hits.setdefault("powershell", []).append((r, ""))
            if not create and bare in rpc_names and not system:
                hits.setdefault("rpc", []).append((r, ""))
            if not create and base in self.impersonation_clients and not (bare in rpc_names or pshost or
                                                                          r["by_service"]):
                hits.setdefault("impersonation", []).append((r, "shell"))
            elif create and r["shell"] and not r["by_service"] and base not in self.impersonation_clients:
                hits.setdefault("impersonation", []).append((r, "maker"))
            elif create and r["by_smb"] and unusual:
                hits.setdefault("impersonation", []).append((r, "served"))
            if create and unusual and (_RANDOM.fullmatch(r["name"] or "") or bare in rpc_names):
                hits.setdefault("odd_name", []).append((r, "the name of a Windows RPC pipe" if bare in rpc_names
                                                        else "a random-looking name"))
        components: dict[str, float] = {}
        if "tool" in hits:
            components["tool"] = self.tool_score + bonus
        if "powershell" in hits:
            components["powershell"] = self.powershell_score + bonus
        if "impersonation" in hits:
            getsystem = any(kind != "served" for _, kind in hits["impersonation"])
            components["impersonation"] = (self.impersonation_score if getsystem else self.served_score) + bonus
        if "rpc" in hits:
            distinct = len({r["pname"] for r, _ in hits["rpc"]})
            components["rpc"] = ((self.rpc_unusual + (bonus if base in self.script_images else 0.0)) if unusual else
                                 self.rpc_admin if base in self.admin_images else self.rpc_other) + \
                self.fanout_weight * (min(distinct, self.full_fanout) - 1)
        if sweep is not None:
            components["sweep"] = self.sweep_score + 0.1 * min(1.0, (sweep["pipes"] - self.sweep_pipes)
                                                                / max(self.sweep_pipes, 1))
        if "odd_name" in hits:
            components["odd_name"] = self.odd_score
        if not components:
            return None
        components = {k: min(1.0, v) for k, v in components.items()}
        score = min(1.0, max(components.values()) + self.extra_weight * (len(components) - 1))
        return self._render(host, key, image, rows, sweep, hits, components, score, writable, masquerade)

    def _render(self, host: str, key: str, image: str, rows: list[dict], sweep: dict | None,
                hits: dict[str, list[tuple[dict, str]]], components: dict[str, float], score: float,
                writable: bool, masquerade: bool) -> Finding:
        shown = image.rsplit("\\", 1)[-1]
        parts = []
        if "tool" in hits:
            parts.append(f"{_acts(r for r, _ in hits['tool'])} (pipe names of {_and({t for _, t in hits['tool']})})")
        if "powershell" in hits:
            parts.append(f"{_acts(r for r, _ in hits['powershell'])}: " + (
                "a PowerShell host run from a user-writable folder" if shown.lower() in self.powershell_hosts else
                f"PowerShell hosted inside {shown}, not a PowerShell host (unmanaged PowerShell)"))
        for r, kind in hits.get("impersonation", [])[:3]:
            parts.append({"shell": f"connected to the pipe {r['name']} (a shell opening a pipe: getsystem's "
                                   "named-pipe impersonation)",
                          "maker": f"created {r['name']}, which {r['shell']} connected to (getsystem's named-pipe "
                                   "impersonation)",
                          "served": f"created {r['name']}, which a client reached over SMB or the loopback "
                                    "(System connected)"}[kind])
        if "rpc" in hits:
            names = sorted({r["pname"].lstrip("\\") for r, _ in hits["rpc"]})
            uses = {PURPOSE.get(n, f"the {n} interface") for n in names}
            parts.append(f"connected to the {_and(names)} pipe{'s' * (len(names) > 1)} (RPC used for {_and(uses)})")
        if sweep is not None:
            names, span = sorted(sweep["names"]), (sweep["last"] - sweep["first"]).total_seconds()
            parts.append(f"opened {sweep['pipes']} distinct pipes in {span:.1f} s ({', '.join(names[:6])}"
                         f"{', ...' * (len(names) > 6)}): a client probing the host's pipes")
        parts += [f"created {r['name']} ({what})" for r, what in hits.get("odd_name", [])[:3]]
        parts += [f"{image} is in a user-writable folder"] * writable
        parts += [f"{image} has the name of a Windows service outside System32"] * masquerade
        who = (f"System on {host} (the SMB server, for remote or loopback clients)" if image.lower() == "system"
               else f"{shown} on {host}")
        judged: dict[int, list[str]] = {}
        for component, pairs in hits.items():
            for r, _ in pairs:
                judged.setdefault(id(r), []).append(component)
        mine = [r for r in rows if id(r) in judged]
        pipes = [{"name": r["name"], "action": r["action"], "event_id": r["event_id"], "count": int(r["events"]),
                  "first": r["first"], "last": r["last"], "records": _records(r["records"]),
                  "components": judged[id(r)]} for r in mine]
        evidence: dict[str, Any] = {
            "process": {"host": host, "image": image, "pid": rows[0]["pid"] if rows else None,
                        "user": next((r["user"] for r in rows if r["user"]), None),
                        "process_guid": key if key != image else None},
            "pipes": pipes[:EXAMPLES], "distinct_pipes": len({r["pname"] for r in mine}),
            "events": sum(p["count"] for p in pipes), "tools": sorted({t for _, t in hits.get("tool", [])}),
            "rpc_pipes": sorted({r["pname"].lstrip("\\") for r, _ in hits.get("rpc", [])}),
            "user_writable": writable, "masquerade": masquerade,
        }
        times = [r["first"] for r in mine] + [r["last"] for r in mine]
        if sweep is not None:
            evidence["sweep"] = {"pipes": int(sweep["pipes"]), "names": sorted(sweep["names"]),
                                 "events": int(sweep["events"]), "first": sweep["first"], "last": sweep["last"],
                                 "records": _records(sweep["records"])}
            times += [sweep["first"], sweep["last"]]
        return Finding(
            detector=self.name, score=score, entity=f"{host}:{shown}" + (f" {key}" if key != image else ""),
            host=host or None, user=evidence["process"]["user"], first_seen=min(times), last_seen=max(times),
            components=components, evidence=evidence, why=f"{who} " + "; ".join(parts),
        )


def _acts(rows) -> str:
    """``created \\a and connected to \\b, \\c`` from aggregated rows."""
    by: dict[str, list[str]] = {}
    for r in rows:
        names = by.setdefault("created" if r["action"] == "create" else "connected to", [])
        names += [r["name"]] * (r["name"] not in names)
    return " and ".join(f"{verb} {', '.join(names[:4])}{', ...' * (len(names) > 4)}" for verb, names in by.items())


def _and(items) -> str:
    items = sorted(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _records(ids: list | None) -> list[int]:
    return sorted(int(i) for i in ids or () if i is not None)[:10]

"""Lateral movement in Windows logs: first-time logons, remote services, remoting sessions, pass-the-hash.

Four kinds of finding (``evidence.kind``), each from ``auth.logon``, ``win.event`` or ``proc.exec``
alone (no ``net.conn`` needed; the detector runs when any of them is in the lake):

* **first_logon** -- a user logs on over the network (logon type 3) or by remote desktop (10) to
  a host for the first time in the lake's history, while the lake has known the user for at least
  ``min_history_days`` (``_logon_history``), or an account new to a lake that was already watching,
  when it logs on with administrative privileges (a new employee's first day is routine; a new
  account fanning out as an administrator is not). One finding per user, naming every new host; scored
  from the number of new hosts (``full_new_hosts``: an account fanning out), the privilege of the
  logons (a 4672 special-privileges record on the same logon session, or a name matching
  ``privileged_users``; full when the user had never logged on with privileges before, little for
  an administrator reaching one more server) and how few hosts the user had touched before (a new host for a user of one
  or two hosts says more than for a roaming help-desk account).
* **remote_service** -- a service installed (System 7045 or Security 4697) on a host that a
  privileged network logon (4624 type 3 with a 4672 on the same session), an ADMIN$/C$ share access
  (5140/5145) or an open of the service-control pipe (5145 IPC$ ``svcctl``) from another address
  reached within ``service_window`` seconds before: the psexec / smbexec / impacket shape. (Plain
  network logons are not enough: a busy file server has one every few seconds.) A service whose binary
  is a shell, a script host, a pipe redirection or a path under a share or a temporary folder is
  judged suspicious on its own (``suspicious_service``) and reported even without the logon.
* **remoting** -- PowerShell remoting or WinRS sessions on the target: ``wsmprovhost.exe`` /
  ``winrshost.exe`` processes, WinRM operational 91 (a shell created) and 169 (a user
  authenticated), PowerShell 4103/4104/400 records whose host application is the remoting host.
  One finding per host, scored from the number of kinds of sign and whether a network logon
  names the source.
* **pass_the_hash** -- logon type 9 (NewCredentials) through ``seclogo``: the shape of mimikatz
  ``sekurlsa::pth`` (and of ``runas /netonly``), and NTLM network logons (4624 type 3,
  ``NtLmSsp``, ``KeyLength`` 0) from a source that had never logged on to the host with NTLM before.

Scores are sums of documented weights capped at 1; the evidence carries the rows (time, host,
source, user, event id) behind each finding.
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any, ClassVar

import ibis

from winnow.detections._eventdata import windows_events, with_event_fields
from winnow.detections._logon_history import first_sightings, person
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

EXAMPLES = 10
REMOTE_LOGON_TYPES = ("3", "10")
#: shares whose access ties a service install to a remote source (IPC$ only for the service control pipe)
ADMIN_SHARES = ("ADMIN$", "C$")
REMOTING_IMAGES = ("wsmprovhost.exe", "winrshost.exe")
WINRM_CHANNEL = "Microsoft-Windows-WinRM/Operational"
POWERSHELL_CHANNELS = ("Microsoft-Windows-PowerShell/Operational", "Windows PowerShell")


@register
class LateralMovement(Detector):
    """Args:
    min_history_days: days the lake must have known a user before a first logon to a host counts as new.
    full_new_hosts: new hosts of one user at which the fan-out sub-score reaches 1.
    privileged_users: account name patterns (fnmatch, case-insensitive) that weigh as privileged.
    service_window: seconds before a service install in which a remote logon or share access ties to it.
    suspicious_service: service binary patterns (fnmatch, case-insensitive) suspicious on their own.
    min_score: findings scoring below this are left out.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "lateral"
    description: ClassVar[str] = (
        "lateral movement in Windows logs: first-time user->host network logons, psexec-style remote services, "
        "PowerShell remoting / WinRS sessions, pass-the-hash shapes"
    )
    tables: ClassVar[tuple[str, ...]] = ("auth.logon", "win.event", "proc.exec")

    def __init__(self, min_history_days: float = 3.0, full_new_hosts: int = 5,
                 privileged_users: tuple[str, ...] = ("administrator", "admin", "*adm", "adm-*", "*-adm", "da-*",
                                                      "*_admin", "admin_*", "root"),
                 service_window: float = 300.0,
                 suspicious_service: tuple[str, ...] = ("*cmd*/c*", "*cmd.exe", "*%comspec%*", "*powershell*",
                                                        "*pwsh*", "*\\\\.\\pipe\\*", "*\\\\127.0.0.1\\*",
                                                        "*admin$*", "*\\temp\\*", "*\\users\\public\\*",
                                                        "*psexesvc*", "*rundll32*", "*mshta*", "*wscript*",
                                                        "*cscript*", "*regsvr32*", "calc.exe"),
                 min_score: float = 0.4, limit: int = 500) -> None:
        self.min_history_days = min_history_days
        self.full_new_hosts = full_new_hosts
        self.privileged_users = privileged_users
        self.service_window = service_window
        self.suspicious_service = suspicious_service
        self.min_score = min_score
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        findings = (self._first_logons(engine, window) + self._remote_services(engine, window)
                    + self._remoting(engine, window) + self._pass_the_hash(engine, window))
        findings = [f for f in findings if f.score >= self.min_score]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _privileged_name(self, user: str | None) -> bool:
        low = (user or "").lower()
        return any(fnmatch.fnmatchcase(low, p.lower()) for p in self.privileged_users)

    # -- first-time logons ----------------------------------------------------------------
    def _first_logons(self, engine: Engine, window: Window) -> list[Finding]:
        auth = engine.table("auth.logon", Window())
        if auth is None:
            return []
        rows = auth.filter((auth.action == "logon") & (auth.outcome == "success")
                           & auth.logon_type.isin(REMOTE_LOGON_TYPES) & person(auth.user) & auth.host.notnull())
        rows = rows.mutate(user=rows.user.lower(), host=rows.host.lower())
        new = first_sightings(rows, ["user", "host"], "user", window, self.min_history_days)
        privs = auth.filter(auth.action == "special_privileges").select(
            host=auth.host.lower(), logon_id=auth.logon_id, priv=ibis.literal(1))
        privs = privs.distinct()
        hits = rows.semi_join(new, ["user", "host"]).left_join(privs, ["host", "logon_id"])
        per_pair = hits.group_by(["user", "host"]).aggregate(
            logons=hits.count(), first=hits.ts.min(), last=hits.ts.max(),
            src=hits.src_ip.min(), workstation=hits.workstation.min(), logon_type=hits.logon_type.max(),
            privileged=hits.priv.max().fill_null(0),
        )
        out = per_pair.join(new.select("user", "host", "known_since", "known_pairs", "new_user"), ["user", "host"])
        mine = rows.semi_join(new, "user").join(privs, ["host", "logon_id"])
        admin = mine.group_by(admin_user=mine.user).aggregate(admin_since=mine.ts.min())  # first privileged logon
        out = out.left_join(admin, out.user == admin.admin_user).drop("admin_user")
        by_user: dict[str, list[dict]] = {}
        for r in fetch(out.order_by(["user", "first", "host"])).to_pylist():
            if r["new_user"] and not (r["privileged"] or self._privileged_name(r["user"])):
                continue  # a new employee's first day: only a new account acting as an administrator counts
            by_user.setdefault(r["user"], []).append(r)
        return [self._first_logon(user, pairs) for user, pairs in by_user.items()]

    def _first_logon(self, user: str, pairs: list[dict]) -> Finding:
        n = len(pairs)
        fanout = min(1.0, math.log1p(n) / math.log1p(self.full_new_hosts))
        first = min(p["first"] for p in pairs)
        was_admin = pairs[0]["admin_since"] is not None and pairs[0]["admin_since"] < first
        acting = any(p["privileged"] for p in pairs) or self._privileged_name(user)
        # privilege new to the user weighs fully; an administrator on one more server is routine, fan-out aside
        privileged = 0.0 if not acting else 0.15 if was_admin else 1.0
        known = int(pairs[0]["known_pairs"])
        settled = 1.0 / (1.0 + math.log2(1 + known / 4))  # few known hosts: a new one says more
        rdp = 1.0 if any(p["logon_type"] == "10" for p in pairs) else 0.0
        new_user = bool(pairs[0]["new_user"])
        score = min(1.0, 0.05 + 0.4 * fanout + 0.3 * privileged + 0.1 * settled + 0.05 * rdp)
        hosts = [p["host"] for p in pairs]
        sources = sorted({p["src"] or p["workstation"] for p in pairs if p["src"] or p["workstation"]})
        evidence: dict[str, Any] = {
            "kind": "first_logon", "new_hosts": n, "hosts": hosts[:EXAMPLES], "sources": sources[:EXAMPLES],
            "known_hosts_before": known, "known_since": pairs[0]["known_since"], "new_account": new_user,
            "privileged_logons": sum(1 for p in pairs if p["privileged"]),
            "logons": sum(int(p["logons"]) for p in pairs),
        }
        priv = (" with administrative privileges" + (" (an administrator before)" if was_admin else
                                                     ", which it had never had before") if acting else "")
        src = f" from {', '.join(sources[:3])}" if sources else ""
        history = (f"{user} is an account the lake first saw on {_day(pairs[0]['known_since'])}" if new_user else
                   f"the lake has known {user} since {_day(pairs[0]['known_since'])} on {known} other "
                   f"host{'s' if known != 1 else ''}")
        why = (f"{user} logged on over the network{priv} to {n} host{'s' if n > 1 else ''} it had never logged on "
               f"to before ({', '.join(hosts[:3])}{', ...' if n > 3 else ''}){src}; {history}")
        return Finding(
            detector=self.name, score=score, entity=f"{user} first logons", user=user, host=hosts[0],
            src=sources[0] if sources else None,
            first_seen=min(p["first"] for p in pairs), last_seen=max(p["last"] for p in pairs),
            components={"fanout": fanout, "privileged": privileged, "settled": settled, "rdp": rdp},
            evidence=evidence, why=why,
        )

    # -- remote services ------------------------------------------------------------------
    def _remote_services(self, engine: Engine, window: Window) -> list[Finding]:
        events = engine.table("win.event", window)
        if events is None:
            return []
        installs = events.filter(((events.event_id == 7045) & (events.channel == "System"))
                                 | ((events.event_id == 4697) & (events.channel == "Security")))
        installs = with_event_fields(installs, "ServiceName", "ImagePath", "ServiceFileName", "AccountName",
                                     "SubjectUserName")
        services = fetch(installs.select(
            "ts", "event_id", "record_id", host=installs.host.lower(), service=installs.ServiceName,
            image=ibis.coalesce(installs.ImagePath, installs.ServiceFileName),
            account=installs.AccountName, by=installs.SubjectUserName,
        ).order_by(["ts", "host", "record_id"])).to_pylist()
        if not services:
            return []
        hosts = sorted({s["host"] for s in services})
        access = self._remote_access(engine, window, hosts)
        findings = []
        seen: set[tuple] = set()
        for s in services:
            key = (s["host"], (s["service"] or "").lower(), (s["image"] or "").lower())
            if key in seen:  # 7045 and 4697 of one install, or a reinstall: one finding
                continue
            seen.add(key)
            before = [a for a in access.get(s["host"], [])
                      if 0 <= (s["ts"] - a["ts"]).total_seconds() <= self.service_window]
            finding = self._remote_service(s, before)
            if finding is not None:
                findings.append(finding)
        return findings

    def _remote_access(self, engine: Engine, window: Window, hosts: list[str]) -> dict[str, list[dict]]:
        """Network logons and admin-share accesses from a source address, on ``hosts``, by host."""
        widened = Window(None if window.since is None else window.since - _seconds(self.service_window),
                         window.until)
        parts = []
        auth = engine.table("auth.logon", widened)
        if auth is not None:
            mine = auth.filter(auth.host.lower().isin(hosts))
            rows = mine.filter((mine.action == "logon") & (mine.outcome == "success") & (mine.logon_type == "3")
                               & person(mine.user))
            privs = mine.filter(mine.action == "special_privileges").select("host", "logon_id").distinct()
            rows = rows.semi_join(privs, ["host", "logon_id"])  # an administrator's session, not a file share user
            parts.append(rows.select("ts", host=rows.host.lower(), src=rows.src_ip, user=rows.user,
                                     how=ibis.literal("privileged network logon")))
        shares = windows_events(engine, widened, (5140, 5145))
        if shares is not None:
            shares = with_event_fields(shares, "ShareName", "IpAddress", "SubjectUserName", "RelativeTargetName")
            name = shares.ShareName.upper()
            target = shares.RelativeTargetName.fill_null("").lower()
            admin = ibis.or_(*[name.endswith(s) for s in ADMIN_SHARES]) | (name.endswith("IPC$") & (target == "svcctl"))
            rows = shares.filter(admin & shares.host.lower().isin(hosts))
            parts.append(rows.select("ts", host=rows.host.lower(), src=rows.IpAddress, user=rows.SubjectUserName,
                                     how=ibis.literal("share ") + rows.ShareName))
        out: dict[str, list[dict]] = {}
        for part in parts:
            for r in fetch(part.filter(part.src.notnull() & ~part.src.isin(("::1", "127.0.0.1", "-")))).to_pylist():
                if r["how"].startswith("share "):  # "\\\\*\\ADMIN$" -> "share ADMIN$"
                    r["how"] = "share " + r["how"].rsplit("\\", 1)[-1]
                out.setdefault(r["host"], []).append(r)
        return out

    def _remote_service(self, s: dict, before: list[dict]) -> Finding | None:
        image = s["image"] or ""
        suspicious = 1.0 if any(fnmatch.fnmatchcase(image.lower(), p.lower()) for p in self.suspicious_service) \
            else 0.0
        remote = 1.0 if before else 0.0
        if not (suspicious or remote):
            return None
        score = min(1.0, 0.3 + 0.3 * suspicious + 0.4 * remote)
        latest = max(before, key=lambda a: a["ts"]) if before else None
        evidence: dict[str, Any] = {
            "kind": "remote_service", "service": s["service"], "image": image, "account": s["account"],
            "event_id": s["event_id"], "record_id": s["record_id"],
            "remote_access": [{"ts": a["ts"], "src": a["src"], "user": a["user"], "how": a["how"]}
                              for a in sorted(before, key=lambda a: a["ts"])[-EXAMPLES:]],
        }
        clauses = []
        if latest:
            lag = (s["ts"] - latest["ts"]).total_seconds()
            clauses.append(f"{lag:.0f} s after a {latest['how']} from {latest['src']} as {latest['user']}")
        if suspicious:
            clauses.append("its binary is a shell, script host, pipe or share path")
        why = f"service {s['service']!r} ({image[:80]}) was installed on {s['host']}" + "".join(
            (", " if i == 0 and latest else "; ") + c for i, c in enumerate(clauses))
        return Finding(
            detector=self.name, score=score, entity=f"{s['host']} service {s['service']}", host=s["host"],
            src=latest["src"] if latest else None, dst=None, user=latest["user"] if latest else s["by"],
            first_seen=latest["ts"] if latest else s["ts"], last_seen=s["ts"],
            components={"remote": remote, "suspicious": suspicious}, evidence=evidence, why=why,
        )

    # -- PowerShell remoting / WinRS ------------------------------------------------------
    def _remoting(self, engine: Engine, window: Window) -> list[Finding]:
        signs: dict[str, list[dict]] = {}
        procs = engine.table("proc.exec", window)
        if procs is not None:
            low = procs.image.lower()
            remoting = ibis.or_(*[low.endswith("\\" + i) for i in REMOTING_IMAGES])
            rows = procs.filter((procs.action == "start") & remoting)
            for r in fetch(rows.select("ts", host=rows.host.lower(), user=rows.user, what=rows.image)).to_pylist():
                signs.setdefault(r["host"], []).append({**r, "sign": "remoting host process"})
        events = engine.table("win.event", window)
        if events is not None:
            winrm = events.filter((events.channel == WINRM_CHANNEL) & events.event_id.isin((91, 169)))
            remote_host = events.data.lower().contains("wsmprovhost") | events.data.contains("ServerRemoteHost")
            ps = events.filter(events.channel.isin(POWERSHELL_CHANNELS) & events.event_id.isin((400, 4103, 4104))
                               & remote_host)
            both = ibis.union(winrm, ps, distinct=False)
            rows = both.select("ts", "event_id", host=both.host.lower(), user=both.user_sid,
                               what=both.channel)
            for r in fetch(rows).to_pylist():
                kind = f"WinRM event {r['event_id']}" if r["what"] == WINRM_CHANNEL else "remoting PowerShell record"
                signs.setdefault(r["host"], []).append({**r, "sign": kind})
        if not signs:
            return []
        access = self._remote_access(engine, window, sorted(signs))
        findings = []
        for host, rows in signs.items():
            rows.sort(key=lambda r: r["ts"])
            kinds = sorted({r["sign"] for r in rows})
            first, last = rows[0]["ts"], rows[-1]["ts"]
            near = [a for a in access.get(host, [])
                    if -self.service_window <= (first - a["ts"]).total_seconds() <= self.service_window]
            source = 1.0 if near else 0.0
            variety = min(1.0, (len(kinds) - 1) / 2)
            score = min(1.0, 0.5 + 0.2 * variety + 0.2 * source)
            users = sorted({r["user"] for r in rows if r.get("user")})
            src = near[-1]["src"] if near else None
            evidence = {"kind": "remoting", "signs": {k: sum(1 for r in rows if r["sign"] == k) for k in kinds},
                        "users": users[:EXAMPLES], "sources": sorted({a["src"] for a in near})[:EXAMPLES]}
            why = (f"{host} ran remote PowerShell / WinRS sessions ({', '.join(kinds)})"
                   + (f", after a network logon from {src} as {near[-1]['user']}" if near else ""))
            findings.append(Finding(
                detector=self.name, score=score, entity=f"{host} remoting", host=host, src=src,
                user=near[-1]["user"] if near else None, first_seen=first, last_seen=last,
                components={"variety": variety, "source": source}, evidence=evidence, why=why,
            ))
        return findings

    # -- pass-the-hash shapes -------------------------------------------------------------
    def _pass_the_hash(self, engine: Engine, window: Window) -> list[Finding]:
        logons = windows_events(engine, Window(), (4624,))
        if logons is None:
            return []
        f = with_event_fields(logons, "TargetUserName", "TargetDomainName", "LogonType", "LogonProcessName",
                              "AuthenticationPackageName", "KeyLength", "IpAddress", "WorkstationName",
                              "SubjectUserName")
        f = f.mutate(host=f.host.lower(), proc=f.LogonProcessName.strip().lower())
        pth = f.filter((f.LogonType == "9") & (f.proc == "seclogo"))
        ntlm = f.filter((f.LogonType == "3") & (f.proc == "ntlmssp") & (f.KeyLength == "0")
                        & person(f.TargetUserName))
        ntlm = ntlm.mutate(src=ibis.coalesce(ntlm.IpAddress, ntlm.WorkstationName.lower()))
        ntlm = ntlm.filter(ntlm.src.notnull() & ~ntlm.src.isin(("::1", "127.0.0.1")))
        firsts = ntlm.group_by(["host", "src"]).aggregate(pair_first=ntlm.ts.min())
        hosts = ntlm.group_by("host").aggregate(host_first=ntlm.ts.min())
        new = firsts.join(hosts, "host")
        new = new.mutate(had_history=(new.pair_first.epoch_seconds() - new.host_first.epoch_seconds())
                         >= int(self.min_history_days * 86400))
        ntlm_rows = ntlm.join(new, ["host", "src"])
        ntlm_rows = ntlm_rows.filter(ntlm_rows.ts == ntlm_rows.pair_first)
        cols = dict(host="host", user=f.TargetUserName, domain=f.TargetDomainName)
        out = []
        for kind, rows in (("pth", pth.select("ts", "record_id", **cols, src=f.SubjectUserName,
                                                  had_history=ibis.literal(False))),
                           ("ntlm", ntlm_rows.select("ts", "record_id", "host", user="TargetUserName",
                                                     domain="TargetDomainName", src="src", had_history="had_history"))):
            rows = _in_window(rows, window)
            for r in fetch(rows.order_by(["ts", "host", "record_id"])).to_pylist():
                out.append(self._pth(kind, r))
        return out

    def _pth(self, kind: str, r: dict) -> Finding:
        who = f"{r['domain']}\\{r['user']}" if r["domain"] else str(r["user"])
        if kind == "pth":
            score, history = 0.65, 0.0
            why = (f"{r['host']}: a NewCredentials logon (type 9) through seclogo for {who} started by "
                   f"{r['src']}: the shape of mimikatz sekurlsa::pth (and of runas /netonly)")
        else:
            history = 1.0 if r["had_history"] else 0.0
            score = 0.45 + 0.15 * history + (0.1 if self._privileged_name(r["user"]) else 0.0)
            why = (f"{r['host']}: an NTLM network logon with no session key (KeyLength 0) for {who} from {r['src']}, "
                   + ("a source that had never logged on to it with NTLM before" if history
                      else "the first NTLM source the lake holds for this host"))
        return Finding(
            detector=self.name, score=score, entity=f"{r['host']} {kind} {r['user']}", host=r["host"],
            user=r["user"], src=r["src"] if kind == "ntlm" else None, first_seen=r["ts"], last_seen=r["ts"],
            components={"history": history},
            evidence={"kind": "pass_the_hash", "shape": "logon type 9 seclogo" if kind == "pth"
                      else "NTLM type 3 KeyLength 0", "record_id": r["record_id"], "account": who},
            why=why,
        )


def _in_window(rows: Any, window: Window) -> Any:
    if window.since is not None:
        rows = rows.filter(rows.ts >= ibis.literal(window.since))
    if window.until is not None:
        rows = rows.filter(rows.ts < ibis.literal(window.until))
    return rows


def _seconds(n: float) -> Any:
    import datetime as dt

    return dt.timedelta(seconds=n)


def _day(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d") if hasattr(ts, "strftime") else str(ts)

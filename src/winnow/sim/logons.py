"""Logon logs of a Windows domain with Linux servers, and a planted first-time admin logon chain.

Model (one user per workstation; everything derives from ``seed``):
    * **Fleet.** ``users`` people, each with a workstation ``ws-NNNN`` (10.20.x.y); two domain
      controllers, one file server per 40 users, one application server per 25 users, one Linux
      server per 50 users. 2 % of the people (at least one) are administrators with a second
      account ``adm-<name>`` managing three to five servers; a backup service account visits
      every server each night.
    * **A day of each person** (Winlogbeat JSON, Security channel): an interactive logon (type 2)
      on the own workstation, Kerberos network logons (type 3) from it to a domain controller, the
      home file server and the department's application server; with probability 2 % a visit to
      another server (it may be a first one). Administrators log on to their servers by remote
      desktop or over the network with a 4672 special-privileges record on the same session, and
      with probability 1 % to a server they never managed. Linux (syslog ``auth.log``): the
      administrators ssh to their Linux server with a key and run sudo; a tenth of the people ssh
      with a password, mistyping it now and then (one or two failures before the success).
    * **Routine changes.** The help desk creates about one account per 500 user-days (4720, then
      4732 into a non-privileged group); 1 % of hosts a day install a service locally (7045, an
      ordinary binary, no remote logon before it); Group Policy rewrites an audit subcategory on
      2 % of the servers a day (4719 by SYSTEM).
    * **The planted chain** (``plant=True``), on day ``min(days - 1, 3)`` at 14:00 from a victim's
      workstation: the victim's account creates ``svc_<hex>`` on dc01 (4720) and adds it to
      Domain Admins (4728); the new account logs on with privileges (4624 type 3 + 4672) to two
      servers and two workstations it never touched, opens ADMIN$ (5140) and installs a service
      with a ``%COMSPEC%`` command (7045) on each; then, from the same workstation, a password
      spray (six accounts, two tries each) and a brute force of root that succeeds on a Linux
      server.

Truth (``<out>/logons_truth.json``): the planted findings, each ``{"detector", "kind", "key"}`` where
``key`` is the user, host or source address the finding is about, plus the user-days simulated.
:func:`score` matches findings to it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from winnow.sim.endpoint_procs import FIRST_NAMES, LAST_NAMES

SECURITY_PROVIDER = "Microsoft-Windows-Security-Auditing"
DOMAIN = "CORP"
ATTACK_HOUR = 14
#: (detector, kind) of the planted findings, for the precision/recall table
PLANTED_KINDS = (("accounts", "new_account"), ("accounts", "privileged_group"), ("lateral", "first_logon"),
                 ("lateral", "remote_service"), ("linux_auth", "spray"), ("linux_auth", "login_after_failures"))


@dataclass
class Fleet:
    """Who and what: people, their workstations and addresses, the servers, the administrators."""

    users: list[str]
    workstations: list[str]
    ips: list[str]
    dcs: list[str]
    file_servers: list[str]
    app_servers: list[str]
    linux: list[str]
    admins: dict[int, list[str]] = field(default_factory=dict)  # person -> managed servers
    sids: dict[str, str] = field(default_factory=dict)

    @property
    def servers(self) -> list[str]:
        return self.dcs + self.file_servers + self.app_servers


def build_fleet(users: int, rng: np.random.Generator) -> Fleet:
    names, seen = [], set()
    for i in range(users):
        name = f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))][0]}{LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]}"
        name = name.lower()
        if name in seen:
            name = f"{name}{i}"
        seen.add(name)
        names.append(name)
    fleet = Fleet(
        users=names, workstations=[f"ws-{i:04d}" for i in range(users)],
        ips=[f"10.20.{i // 250}.{i % 250 + 2}" for i in range(users)], dcs=["dc01", "dc02"],
        file_servers=[f"fs{i + 1:02d}" for i in range(max(1, users // 40))],
        app_servers=[f"app{i + 1:02d}" for i in range(max(1, users // 25))],
        linux=[f"lx{i + 1:02d}" for i in range(max(1, users // 50))],
    )
    n_admins = max(1, round(0.02 * users))
    for person in rng.choice(users, size=n_admins, replace=False):
        k = int(rng.integers(3, 6))
        fleet.admins[int(person)] = sorted(rng.choice(fleet.servers, size=min(k, len(fleet.servers)),
                                                      replace=False).tolist())
    for i, name in enumerate(names):
        fleet.sids[name] = f"S-1-5-21-1004336348-1177238915-682003330-{1100 + i}"
    return fleet


class Writer:
    """Security events as Winlogbeat JSON lines and sshd/sudo lines as syslog, per day, in time order."""

    def __init__(self, start: dt.date) -> None:
        self.start = start
        self.events: list[tuple[float, str]] = []
        self.syslog: list[tuple[float, str]] = []
        self.records: dict[str, int] = {}
        self.logon_ids = 0x10000

    def logon_id(self) -> str:
        self.logon_ids += 1
        return f"0x{self.logon_ids:x}"

    def event(self, t: float, host: str, event_id: int, data: dict[str, Any], channel: str = "Security",
              provider: str = SECURITY_PROVIDER) -> None:
        self.records[host] = self.records.get(host, 0) + 1
        obj = {"@timestamp": _iso(t), "host": {"name": host}, "winlog": {
            "channel": channel, "computer_name": host, "event_id": event_id, "provider_name": provider,
            "record_id": self.records[host], "event_data": {k: str(v) for k, v in data.items()}}}
        self.events.append((t, json.dumps(obj, separators=(",", ":")) + "\n"))

    def logon(self, t: float, host: str, user: str, src: str | None, logon_type: int, privileged: bool = False,
              sid: str = "S-1-5-21-0") -> None:
        lid = self.logon_id()
        self.event(t, host, 4624, {
            "SubjectUserSid": "S-1-5-18", "SubjectUserName": "-", "SubjectDomainName": "-", "SubjectLogonId": "0x3e7",
            "TargetUserSid": sid, "TargetUserName": user, "TargetDomainName": DOMAIN, "TargetLogonId": lid,
            "LogonType": logon_type, "LogonProcessName": "Kerberos" if logon_type == 3 else "User32",
            "AuthenticationPackageName": "Kerberos" if logon_type == 3 else "Negotiate", "WorkstationName": "-",
            "KeyLength": 0, "IpAddress": src or "-", "IpPort": "0" if src is None else "49700",
        })
        if privileged:
            self.event(t + 0.01, host, 4672, {"SubjectUserSid": sid, "SubjectUserName": user,
                                              "SubjectDomainName": DOMAIN, "SubjectLogonId": lid,
                                              "PrivilegeList": "SeBackupPrivilege SeDebugPrivilege"})

    def ssh(self, t: float, host: str, pid: int, message: str, program: str = "sshd") -> None:
        tag = f"{program}[{pid}]" if program == "sshd" else program
        self.syslog.append((t, f"{_iso(t)[:-1]}+00:00 {host} {tag}: {message}\n"))

    def flush(self, out: Path, days: int, suffix: str = "") -> list[str]:
        """Write the day files (``security_logons[.<suffix>].json``, ``auth_logons[.<suffix>].log``)."""
        files = []
        tag = f".{suffix}" if suffix else ""
        for name, rows in ((f"security_logons{tag}.json", self.events), (f"auth_logons{tag}.log", self.syslog)):
            rows.sort(key=lambda r: r[0])
            by_day: dict[str, list[str]] = {}
            for t, line in rows:
                by_day.setdefault(_iso(t)[:10], []).append(line)
            for date, lines in sorted(by_day.items()):
                path = out / "endpoint" / date / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(lines))
                files.append(str(path))
        return files


def simulate_logons(out: str | Path, users: int = 50, days: int = 7, seed: int = 0, start: str = "2026-11-02",
                    plant: bool = True) -> dict:
    """Write ``users`` people's logons for ``days`` days (see the module docstring) and the truth; return a summary."""
    if users < 4 or days < 1:
        raise ValueError("logons need at least 4 users and 1 day")
    out = Path(out)
    rng = np.random.default_rng([seed, 0x106045])
    fleet = build_fleet(users, rng)
    day0 = dt.date.fromisoformat(start)
    base = dt.datetime(day0.year, day0.month, day0.day, tzinfo=dt.UTC).timestamp()
    w = Writer(day0)
    for day in range(days):
        _routine_day(w, fleet, rng, base + day * 86400.0)
    planted: list[dict] = []
    if plant:
        attack_day = min(days - 1, 3)
        planted = _plant_chain(w, fleet, rng, base + attack_day * 86400.0 + ATTACK_HOUR * 3600.0)
    files = w.flush(out, days)
    truth = {"seed": seed, "users": users, "days": days, "start": start, "user_days": users * days,
             "planted": planted}
    truth_path = out / "logons_truth.json"
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return {"files": files, "truth": str(truth_path), "events": len(w.events), "syslog_lines": len(w.syslog),
            "planted": len(planted)}


def _routine_day(w: Writer, fleet: Fleet, rng: np.random.Generator, day: float) -> None:
    n = len(fleet.users)
    for i, user in enumerate(fleet.users):
        ws, ip, sid = fleet.workstations[i], fleet.ips[i], fleet.sids[user]
        t = day + 8 * 3600 + float(rng.uniform(0, 5400))
        w.logon(t, ws, user, None, 2, sid=sid)
        home = fleet.file_servers[i % len(fleet.file_servers)]
        app = fleet.app_servers[(i // 7) % len(fleet.app_servers)]
        dc = fleet.dcs[int(rng.integers(len(fleet.dcs)))]
        for host in (dc, home, app):
            w.logon(t + float(rng.uniform(5, 8 * 3600)), host, user, ip, 3, sid=sid)
        if rng.random() < 0.02:
            other = fleet.servers[int(rng.integers(len(fleet.servers)))]
            w.logon(t + float(rng.uniform(60, 8 * 3600)), other, user, ip, 3, sid=sid)
        if i in fleet.admins:
            _admin_day(w, fleet, rng, i, t)
        if i % 10 == 3:  # developers with a password on a Linux server, mistyping now and then
            lx = fleet.linux[i % len(fleet.linux)]
            s = t + float(rng.uniform(600, 7 * 3600))
            for k in range(int(rng.choice([0, 0, 0, 0, 1, 2]))):
                w.ssh(s - 20 + 5 * k, lx, 2000 + i, f"Failed password for {user} from {ip} port {50000 + k} ssh2")
            w.ssh(s, lx, 2000 + i, f"Accepted password for {user} from {ip} port 50100 ssh2")
    # the backup account visits every server at night, privileged
    for k, host in enumerate(fleet.servers):
        w.logon(day + 2 * 3600 + 30 * k, host, "svc_backup", "10.20.250.10", 3, privileged=True, sid="S-1-5-21-9-500")
    # routine changes
    if rng.random() < n / 500:
        _helpdesk_account(w, fleet, rng, day + float(rng.uniform(9, 17)) * 3600)
    for host in [*fleet.workstations, *fleet.servers]:
        if rng.random() < 0.01:
            w.event(day + float(rng.uniform(0, 86400)), host, 7045, {
                "ServiceName": "GoogleUpdaterService", "ImagePath": "\"C:\\Program Files (x86)\\Google\\GoogleUpdater"
                "\\updater.exe\" --system --windows-service", "ServiceType": "user mode service",
                "StartType": "auto start", "AccountName": "LocalSystem"},
                channel="System", provider="Service Control Manager")
    for host in fleet.servers:
        if rng.random() < 0.02:
            w.event(day + float(rng.uniform(0, 86400)), host, 4719, {
                "SubjectUserSid": "S-1-5-18", "SubjectUserName": f"{host.upper()}$", "SubjectDomainName": DOMAIN,
                "SubjectLogonId": "0x3e7", "CategoryId": "%%8274", "SubcategoryId": "%%12804",
                "SubcategoryGuid": "0CCE9227-69AE-11D9-BED3-505054503030", "AuditPolicyChanges": "%%8449"})


def _admin_day(w: Writer, fleet: Fleet, rng: np.random.Generator, i: int, t: float) -> None:
    adm, ip = f"adm-{fleet.users[i]}", fleet.ips[i]
    sid = fleet.sids[fleet.users[i]].rsplit("-", 1)[0] + f"-{5000 + i}"
    managed = fleet.admins[i]
    for host in managed:
        if rng.random() < 0.7:
            w.logon(t + float(rng.uniform(600, 8 * 3600)), host, adm, ip, int(rng.choice([3, 10])), privileged=True,
                    sid=sid)
    if rng.random() < 0.01:
        host = fleet.servers[int(rng.integers(len(fleet.servers)))]
        w.logon(t + float(rng.uniform(600, 8 * 3600)), host, adm, ip, 10, privileged=True, sid=sid)
    lx = fleet.linux[i % len(fleet.linux)]
    s = t + float(rng.uniform(600, 8 * 3600))
    w.ssh(s, lx, 3000 + i, f"Accepted publickey for {adm} from {ip} port 51000 ssh2: RSA SHA256:k{i}")
    w.ssh(s + 30, lx, 0, f"    {adm} : TTY=pts/0 ; PWD=/home/{adm} ; USER=root ; COMMAND=/usr/bin/systemctl status",
          program="sudo")


def _helpdesk_account(w: Writer, fleet: Fleet, rng: np.random.Generator, t: float) -> None:
    name = f"new{int(rng.integers(10_000, 99_999))}"
    sid = f"S-1-5-21-1004336348-1177238915-682003330-{int(rng.integers(20_000, 30_000))}"
    w.event(t, "dc01", 4720, {"TargetUserName": name, "TargetDomainName": DOMAIN, "TargetSid": sid,
                              "SubjectUserName": "helpdesk", "SubjectDomainName": DOMAIN})
    w.event(t + 40, "dc01", 4732, {"MemberName": "-", "MemberSid": sid, "TargetUserName": "Staff",
                                   "TargetDomainName": DOMAIN, "SubjectUserName": "helpdesk",
                                   "SubjectDomainName": DOMAIN})


def _plant_chain(w: Writer, fleet: Fleet, rng: np.random.Generator, t: float) -> list[dict]:
    people = [i for i in range(len(fleet.users)) if i not in fleet.admins]
    victim = int(rng.choice(people))
    user, ip = fleet.users[victim], fleet.ips[victim]
    account = f"svc_{int(rng.integers(0x1000, 0xffff)):x}"
    sid = f"S-1-5-21-1004336348-1177238915-682003330-{int(rng.integers(40_000, 50_000))}"
    w.event(t, "dc01", 4720, {"TargetUserName": account, "TargetDomainName": DOMAIN, "TargetSid": sid,
                              "SubjectUserName": user, "SubjectDomainName": DOMAIN})
    w.event(t + 60, "dc01", 4728, {"MemberName": f"CN={account},CN=Users,DC=corp,DC=local", "MemberSid": sid,
                                   "TargetUserName": "Domain Admins", "TargetDomainName": DOMAIN,
                                   "SubjectUserName": user, "SubjectDomainName": DOMAIN})
    others = [h for k, h in enumerate(fleet.workstations) if k != victim]
    targets = (rng.choice(fleet.servers, size=2, replace=False).tolist()
               + rng.choice(others, size=2, replace=False).tolist())
    planted = [{"detector": "accounts", "kind": "new_account", "key": account},
               {"detector": "accounts", "kind": "privileged_group", "key": account},
               {"detector": "lateral", "kind": "first_logon", "key": account}]
    for k, host in enumerate(targets):
        s = t + 300 + 120 * k
        w.logon(s, host, account, ip, 3, privileged=True, sid=sid)
        w.event(s + 1, host, 5140, {"SubjectUserSid": sid, "SubjectUserName": account, "SubjectDomainName": DOMAIN,
                                    "ObjectType": "File", "IpAddress": ip, "IpPort": "49800",
                                    "ShareName": "\\\\*\\ADMIN$", "ShareLocalPath": "\\??\\C:\\Windows"})
        name = "".join(chr(97 + int(c)) for c in rng.integers(0, 26, size=8))
        w.event(s + 3, host, 7045, {"ServiceName": name, "ImagePath": f"%COMSPEC% /Q /c echo whoami ^> "
                                    f"\\\\127.0.0.1\\C$\\__output 2^>^&1 > %TEMP%\\{name}.bat",
                                    "ServiceType": "user mode service", "StartType": "demand start",
                                    "AccountName": "LocalSystem"}, channel="System", provider="Service Control Manager")
        planted.append({"detector": "lateral", "kind": "remote_service", "key": host})
    lx = fleet.linux[0]
    s = t + 1800
    for k, name in enumerate(("admin", "oracle", "postgres", "deploy", "jenkins", "git")):
        for j in range(2):
            w.ssh(s + 10 * k + 3 * j, lx, 9000 + k, f"Failed password for invalid user {name} from {ip} port "
                  f"{52000 + 2 * k + j} ssh2")
    for j in range(12):
        w.ssh(s + 100 + 4 * j, lx, 9100 + j, f"Failed password for root from {ip} port {53000 + j} ssh2")
    w.ssh(s + 160, lx, 9200, f"Accepted password for root from {ip} port 53100 ssh2")
    planted += [{"detector": "linux_auth", "kind": "spray", "key": ip, "host": lx},
                {"detector": "linux_auth", "kind": "login_after_failures", "key": ip, "host": lx}]
    return planted


def matches(finding: Any, item: dict) -> bool:
    """Whether a finding is about a planted item: same detector and kind, and the key among its entities."""
    if finding.detector != item["detector"] or finding.evidence.get("kind") != item["kind"]:
        return False
    keys = {finding.user, finding.host, finding.src}
    if item["kind"] == "privileged_group":
        keys.add(finding.evidence.get("member", "").split(",", 1)[0].removeprefix("CN="))
    return item["key"] in keys


def score(findings: Iterable[Any], truth: dict) -> dict:
    """Precision and recall per planted kind, and false findings per 1,000 user-days."""
    findings = list(findings)
    planted = truth["planted"]
    found = [any(matches(f, p) for f in findings) for p in planted]
    true = [f for f in findings if any(matches(f, p) for p in planted)]
    false = [f for f in findings if f not in true]
    per_kind = {}
    for detector, kind in PLANTED_KINDS:
        items = [k for k, p in enumerate(planted) if (p["detector"], p["kind"]) == (detector, kind)]
        of_kind = [f for f in findings if f.detector == detector and f.evidence.get("kind") == kind]
        hits = [f for f in of_kind if f in true]
        per_kind[f"{detector}/{kind}"] = {
            "planted": len(items), "found": sum(found[k] for k in items), "findings": len(of_kind),
            "recall": round(sum(found[k] for k in items) / len(items), 3) if items else None,
            "precision": round(len(hits) / len(of_kind), 3) if of_kind else None,
        }
    user_days = truth["user_days"]
    medium = [f for f in false if f.severity in ("medium", "high")]
    return {
        "planted": len(planted), "found": sum(found),
        "recall": round(sum(found) / len(planted), 3) if planted else None,
        "findings": len(findings), "precision": round(len(true) / len(findings), 3) if findings else None,
        "false_findings": len(false), "false_medium_or_higher": len(medium),
        "false_per_1000_user_days": round(1000 * len(false) / user_days, 3),
        "false_examples": [f"{f.detector} {f.severity} {f.entity}" for f in false[:10]],
        "by_kind": per_kind,
    }


#: the detectors the planted chain is for, each run over the simulated lake by :func:`evaluate`
DETECTORS = ("lateral", "accounts", "linux_auth")


def evaluate(out: str | Path, users: int, days: int, seed: int, plant: bool, engine: str = "duckdb",
             baseline_days: float = 3.0) -> dict:
    """Simulate, ingest, run :data:`DETECTORS` over the days after ``baseline_days`` and :func:`score` them."""
    from winnow.detections import get_detector
    from winnow.engine import Window, connect
    from winnow.ingest import ingest

    out = Path(out)
    summary = simulate_logons(out, users=users, days=days, seed=seed, plant=plant)
    ingest([out / "endpoint"], out / "lake")
    truth = json.loads(Path(summary["truth"]).read_text())
    start = dt.datetime.fromisoformat(truth["start"]).replace(tzinfo=dt.UTC)
    window = Window(since=start + dt.timedelta(days=baseline_days))
    with connect(engine, out / "lake") as eng:
        findings = [f for name in DETECTORS for f in get_detector(name).find(eng, window)]
    judged = dict(truth, user_days=round(users * (days - baseline_days)))
    return {"users": users, "days": days, "seed": seed, "plant": plant, "judged_user_days": judged["user_days"],
            **score(findings, judged)}


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

"""Windows Security logs of the simulated domain: everyday authentication, and planted identity attacks.

Written to ``<out>/endpoint/<date>/security.json`` (one JSON object per event in the flat
Mordor/NXLog shape the ``windows_json`` source reads), by the two domain controllers ``DC01`` (the
world's ``dc01``, 10.0.0.10) and ``DC02`` (10.0.0.11), the file server ``FS01`` and the workstations.

Benign model, per user (one per workstation, ``WS00001`` ...) and working day (weekends: 8 % of users):
    * morning logon: a TGT (4768, pre-authenticated, AES 0x12) and service tickets (4769, AES) for the
      user's workstation, the file server and 1-3 user services (``svc_sql``, ``svc_web``...); 30 % of
      users also use the legacy intranet application ``svc_legacy``, whose tickets are RC4 (0x17): one
      RC4 service per user, the everyday RC4 a Kerberoasting detector must not count;
    * an interactive 4624 and a winlogon 4648 on the workstation, a network 4624 on FS01, and later
      ticket renewals (4769) through the day;
    * mistyped passwords: 10 % of user-days start with 1-3 failures (4771 0x18 at the DC and a local
      4625 on the workstation) before the right one;
    * stale credentials: 1 % of users have a device with an old password that fails once (4771) every
      60-120 minutes during the day;
    * administrators (5 % of users) use ``runas`` with their ``adm_`` account once or twice (4648 with one
      target); FS01's backup task logs in its service account (4648 by ``FS01$`` via svchost);
    * a shop-floor kiosk ``KIOSK01`` where 7 of 20 shift accounts log on around 06, 14 and 22 h, 15 %
      after a mistyped password: one source, several accounts, a few failures;
    * ``svc_monitor`` asks for AES service tickets for every user service each hour (breadth without RC4);
    * ``scanner01``, a legacy scanner account without Kerberos pre-authentication, gets a TGT with
      AES every morning (4768 PreAuthType 0, 0x12): a weak account, not an attack;
    * replication: each DC logs 4662 with the replication rights for the other DC's machine account
      every 15 minutes; users' ordinary directory reads are 4662s with other property GUIDs.

Planted (unless ``attacks`` is false): ``1 + users // 250`` of each kind, variants in turn, each from
its own attacker workstation on a seeded day and hour, listed in ``truth["identity"]`` with the fields
the scorer (``score_identity``) matches on:
    * ``spray``: fast (40-80 accounts, one 4771 each, 0.5-4 s apart) or slow (10-20 accounts, one every
      5-12 minutes), plus 3 accounts that do not exist (4768 0x6); then one real account's password
      works (4768 success);
    * ``spray_4648``: a ``LogonUser`` loop, 25-40 explicit-credential logons (4648) for distinct accounts;
    * ``brute_force``: fast (60-200 NTLM failures, 4625 on FS01 and 4776 at the DC, against one account in
      5-10 minutes) or slow (100-150 failures, one every 40-55 s), half of them ending in a success;
    * ``kerberoast``: RC4 service tickets for every user service (8) within a second, or for 3 chosen ones;
    * ``asrep``: RC4 TGTs without pre-authentication for the no-pre-auth accounts (1-2);
    * ``dcsync``: an admin account (``adm_<user>``) or a workstation's machine account (relayed, given the
      rights) replicating the directory (4662 with Get-Changes and Get-Changes-All).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from winnow.sim import catalog
from winnow.sim.endpoint_procs import FIRST_NAMES, LAST_NAMES
from winnow.sim.network import workstation_ip

DCS = (("DC01", "10.0.0.10"), ("DC02", "10.0.0.11"))
FS = ("FS01", "10.0.0.20")
USER_SERVICES = ("svc_sql", "svc_web", "svc_backup", "svc_report", "svc_crm", "svc_erp", "svc_wiki")
LEGACY_RC4 = "svc_legacy"
NO_PREAUTH = ("scanner01", "svc_fax")
GET_CHANGES = "{1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}"
GET_CHANGES_ALL = "{1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}"
DOMAIN_DNS = "DS-DOMAIN-DNS"  # the ObjectType class GUID Windows logs for the domain object
USER_READ = "{bf967aba-0de6-11d0-a285-00aa003049e2}"
KINDS = ("spray", "spray_4648", "brute_force", "kerberoast", "asrep", "dcsync")
#: variants of each kind, taken in turn
VARIANTS = {"spray": ("fast", "slow"), "spray_4648": ("loop",), "brute_force": ("fast", "slow"),
            "kerberoast": ("all", "targeted"), "asrep": ("rc4",), "dcsync": ("admin", "machine")}
KIOSK = ("KIOSK01", "10.0.0.60")
NETBIOS = "CORP"


def user_names(n: int, seed: int) -> list[str]:
    """One account name per workstation, unique (``jdoe``, ``jdoe2`` ...)."""
    rng = random.Random(f"users-{seed}")
    seen: dict[str, int] = {}
    out = []
    for _ in range(n):
        base = rng.choice(FIRST_NAMES)[0] + rng.choice(LAST_NAMES)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}{seen[base]}")
    return out


class _Log:
    """Events of one day, sorted by time when written."""

    def __init__(self, record: dict[str, int]) -> None:
        self.events: list[tuple[float, dict]] = []
        self.record = record  # next record number per host, carried across days

    def add(self, ts: float, event_id: int, host: str, **data: Any) -> None:
        self.record[host] = self.record.get(host, 1000) + 1
        when = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.events.append((ts, {
            "EventID": event_id, "Channel": "Security", "SourceName": "Microsoft-Windows-Security-Auditing",
            "Hostname": f"{host}.{catalog.CORP_DOMAIN}", "TimeCreated": when, "RecordNumber": self.record[host],
            **{k: str(v) for k, v in data.items()},
        }))

    def write(self, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.events.sort(key=lambda e: (e[0], e[1]["Hostname"], e[1]["RecordNumber"]))
        with open(path, "w") as fh:
            for _, event in self.events:
                fh.write(json.dumps(event, separators=(",", ":")) + "\n")
        return len(self.events)


class _Domain:
    """Event builders of the simulated domain (each writes what the real logging hosts write)."""

    def __init__(self, log: _Log, rng: random.Random) -> None:
        self.log, self.rng = log, rng

    def dc(self) -> str:
        return DCS[0][0] if self.rng.random() < 0.7 else DCS[1][0]

    def tgt(self, ts: float, user: str, ip: str, status: str = "0x0", preauth: str = "2", enc: str = "0x12") -> None:
        fail = status != "0x0"
        self.log.add(ts, 4768, self.dc(), TargetUserName=user, TargetDomainName=catalog.CORP_DOMAIN.upper(),
                     ServiceName="krbtgt", TicketOptions="0x40810010", Status=status,
                     TicketEncryptionType="0xffffffff" if fail else enc, PreAuthType="-" if fail else preauth,
                     IpAddress=f"::ffff:{ip}", IpPort=self.rng.randint(49152, 65535))

    def preauth_failure(self, ts: float, user: str, ip: str) -> None:
        self.log.add(ts, 4771, self.dc(), TargetUserName=user, ServiceName=f"krbtgt/{catalog.CORP_DOMAIN.upper()}",
                     TicketOptions="0x40810010", Status="0x18", PreAuthType="2", IpAddress=f"::ffff:{ip}",
                     IpPort=self.rng.randint(49152, 65535))

    def ticket(self, ts: float, user: str, ip: str, service: str, enc: str = "0x12") -> None:
        self.log.add(ts, 4769, self.dc(), TargetUserName=f"{user}@{catalog.CORP_DOMAIN.upper()}",
                     TargetDomainName=catalog.CORP_DOMAIN.upper(), ServiceName=service, TicketOptions="0x40810000",
                     TicketEncryptionType=enc, IpAddress=f"::ffff:{ip}", IpPort=self.rng.randint(49152, 65535),
                     Status="0x0")

    def logon(self, ts: float, host: str, user: str, logon_type: int, ip: str = "-", station: str = "-",
              package: str = "Kerberos") -> None:
        self.log.add(ts, 4624, host, SubjectUserName="-", TargetUserName=user, TargetDomainName=NETBIOS,
                     LogonType=logon_type, IpAddress=ip, WorkstationName=station, AuthenticationPackageName=package,
                     TargetLogonId=hex(self.rng.randint(0x100000, 0xFFFFFFF)), ProcessName="-")

    def failed_logon(self, ts: float, host: str, user: str, logon_type: int, ip: str = "-", station: str = "-",
                     package: str = "NTLM") -> None:
        self.log.add(ts, 4625, host, SubjectUserName="-", TargetUserName=user, TargetDomainName=NETBIOS,
                     Status="0xc000006d", SubStatus="0xc000006a", LogonType=logon_type, IpAddress=ip,
                     WorkstationName=station, AuthenticationPackageName=package)

    def ntlm(self, ts: float, user: str, station: str, status: str) -> None:
        self.log.add(ts, 4776, self.dc(), PackageName="MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", TargetUserName=user,
                     Workstation=station, Status=status)

    def explicit(self, ts: float, host: str, subject: str, target: str, process: str, server: str) -> None:
        self.log.add(ts, 4648, host, SubjectUserName=subject, SubjectDomainName=NETBIOS, TargetUserName=target,
                     TargetDomainName=NETBIOS, TargetServerName=server, ProcessName=process, IpAddress="-")

    def ds_access(self, ts: float, dc: str, subject: str, properties: str) -> None:
        self.log.add(ts, 4662, dc, SubjectUserName=subject, SubjectDomainName=NETBIOS, ObjectServer="DS",
                     ObjectType="%{19195a5b-6da0-11d0-afd3-00c04fd930c9}", OperationType="Object Access",
                     AccessMask="0x100", Properties=f"%%7688\r\n\t\t{properties}\r\n")


def write_security_logs(out: Path, n_users: int, days: int, seed: int, start: str,
                        attacks: bool = True) -> dict:
    """Write the Security logs; returns ``{"files", "events", "identity": [planted...], "users"}``."""
    users = user_names(n_users, seed)
    ips = [workstation_ip(i) for i in range(n_users)]
    hosts = [f"WS{i + 1:05d}" for i in range(n_users)]
    plan_rng = random.Random(f"identity-plan-{seed}")
    profile = [{"legacy": plan_rng.random() < 0.3, "admin": plan_rng.random() < 0.05,
                "stale": plan_rng.random() < 0.01, "start": plan_rng.gauss(8.3, 0.8),
                "services": plan_rng.sample(USER_SERVICES, plan_rng.randint(1, 3))} for _ in range(n_users)]
    planted = _plan(plan_rng, users, ips, hosts, days) if attacks else []
    files, events, records = [], 0, {}
    for day in range(days):
        date = dt.date.fromisoformat(start) + dt.timedelta(days=day)
        day0 = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()
        log = _Log(records)
        dom = _Domain(log, random.Random(f"identity-{seed}-{day}"))
        _background(dom, day0, date.weekday() >= 5, users, ips, hosts, profile)
        for item in planted:
            if item["day"] == day:
                _attack(dom, day0, item, users)
        path = Path(out) / "endpoint" / date.isoformat() / "security.json"
        events += log.write(path)
        files.append(str(path))
    day_one = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC).timestamp()
    for item in planted:
        when = day_one + item["day"] * 86400 + item.pop("t0")
        item["start"] = dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"files": files, "events": events, "identity": planted, "users": n_users,
            "domain_controllers": [d for d, _ in DCS]}


def _background(dom: _Domain, day0: float, weekend: bool, users: list[str], ips: list[str], hosts: list[str],
                profile: list[dict]) -> None:
    rng = dom.rng
    for i, user in enumerate(users):
        p = profile[i]
        if weekend and rng.random() > 0.08:
            continue
        t = day0 + max(5.0, p["start"] + rng.gauss(0, 0.3)) * 3600
        if rng.random() < 0.10:  # mistyped password first
            for _ in range(rng.randint(1, 3)):
                dom.failed_logon(t, hosts[i], user, 2, ip="127.0.0.1", package="Negotiate")
                dom.preauth_failure(t + 0.2, user, ips[i])
                t += rng.uniform(3, 15)
        dom.tgt(t, user, ips[i])
        dom.explicit(t + 0.1, hosts[i], f"{hosts[i]}$", user, "C:\\Windows\\System32\\winlogon.exe", "localhost")
        dom.logon(t + 0.2, hosts[i], user, 2, ip="127.0.0.1")
        dom.ticket(t + 0.5, user, ips[i], f"{hosts[i]}$")
        dom.ticket(t + 30, user, ips[i], f"{FS[0]}$")
        dom.logon(t + 30.2, FS[0], user, 3, ip=ips[i], station=hosts[i])
        end = t + rng.uniform(7.5, 9.5) * 3600
        for service in p["services"]:
            dom.ticket(rng.uniform(t + 60, end), user, ips[i], service)
        if p["legacy"]:
            dom.ticket(rng.uniform(t + 60, end), user, ips[i], LEGACY_RC4, enc="0x17")
        for k in range(1, int((end - t) // 36000) + 1):  # renewals of long days
            dom.tgt(t + k * 36000, user, ips[i])
        if rng.random() < 0.2:
            dom.ds_access(rng.uniform(t, end), dom.dc(), user, USER_READ)
        if p["admin"]:
            for _ in range(rng.randint(1, 2)):
                dom.explicit(rng.uniform(t, end), hosts[i], user, f"adm_{user}",
                             "C:\\Windows\\System32\\runas.exe", FS[0])
        if p["stale"]:
            s = t + rng.uniform(0, 3600)
            while s < end:
                dom.preauth_failure(s, user, ips[(i + 1) % len(ips)] if len(ips) > 1 else ips[i])
                s += rng.uniform(3600, 7200)
    # the shop-floor kiosk: shift workers log on at 06, 14 and 22 h, some mistyping (one actor, many accounts)
    for shift in (6, 14, 22):
        if weekend:
            break
        for k in rng.sample(range(20), 7):
            t = day0 + shift * 3600 + rng.uniform(-900, 600)
            if rng.random() < 0.15:
                dom.failed_logon(t, KIOSK[0], f"shift{k + 1:02d}", 2, ip="127.0.0.1", station=KIOSK[0],
                                 package="Negotiate")
                dom.preauth_failure(t + 0.2, f"shift{k + 1:02d}", KIOSK[1])
                t += rng.uniform(5, 20)
            dom.tgt(t, f"shift{k + 1:02d}", KIOSK[1])
            dom.logon(t + 0.2, KIOSK[0], f"shift{k + 1:02d}", 2, ip="127.0.0.1", station=KIOSK[0])
    # the monitoring account checks every service hourly, with AES tickets
    for hour in range(24):
        for j, service in enumerate((*USER_SERVICES, LEGACY_RC4)):
            dom.ticket(day0 + hour * 3600 + 120 + j * 0.3, "svc_monitor", "10.0.0.70", service)
    # the scanner without pre-authentication, the backup task, replication between the DCs
    dom.tgt(day0 + 6.5 * 3600 + rng.uniform(0, 600), NO_PREAUTH[0], "10.0.0.40", preauth="0", enc="0x12")
    dom.explicit(day0 + 2 * 3600, FS[0], f"{FS[0]}$", "svc_backup", "C:\\Windows\\System32\\svchost.exe", FS[0])
    for k in range(96):
        for (dc, _), (other, _) in ((DCS[0], DCS[1]), (DCS[1], DCS[0])):
            ts = day0 + k * 900 + rng.uniform(0, 60)
            dom.ds_access(ts, dc, f"{other}$", GET_CHANGES)
            dom.ds_access(ts + 0.01, dc, f"{other}$", GET_CHANGES_ALL)


def _plan(rng: random.Random, users: list[str], ips: list[str], hosts: list[str], days: int) -> list[dict]:
    """``1 + users // 250`` attacks of each kind, alternating variants, each from its own workstation
    (shared when the network is tiny)."""
    order = rng.sample(range(len(users)), len(users))
    per_kind = 1 + len(users) // 250
    out = []
    for k in range(per_kind * len(KINDS)):
        kind, n = KINDS[k % len(KINDS)], k // len(KINDS)
        i = order[k % len(order)]
        variant = VARIANTS[kind][n % len(VARIANTS[kind])]
        out.append({"kind": kind, "variant": variant, "day": rng.randrange(days), "host": hosts[i], "ip": ips[i],
                    "user": users[i], "t0": rng.uniform(9, 15) * 3600})
    return out


def _attack(dom: _Domain, day0: float, item: dict, users: list[str]) -> None:
    rng = dom.rng
    kind, variant, ip, host, user = item["kind"], item["variant"], item["ip"], item["host"], item["user"]
    t = day0 + item["t0"]
    others = [u for u in users if u != user]
    if kind == "spray":
        fast = variant == "fast"
        real = rng.sample(others, min(len(others), rng.randint(40, 80) if fast else rng.randint(10, 20)))
        fake = [f"{w}{rng.randint(1, 99)}" for w in rng.sample(("admin", "test", "backup", "sql", "guest"), 3)]
        targets = real + fake
        rng.shuffle(targets)
        ts = t
        for target in targets:
            if target in fake:
                dom.tgt(ts, target, ip, status="0x6")
            else:
                dom.preauth_failure(ts, target, ip)
            ts += rng.uniform(0.5, 4) if fast else rng.uniform(300, 720)  # slow: one account every 5-12 min
        winner = real[0] if real else user
        dom.tgt(ts + 2, winner, ip)
        item.update(accounts=len(targets), success=winner)
    elif kind == "spray_4648":
        targets = rng.sample(others, min(len(others), rng.randint(25, 40)))
        for j, target in enumerate(targets):
            dom.explicit(t + j * rng.uniform(0.5, 2), host, user, target,
                         "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", FS[0])
        item.update(accounts=len(targets), actor=f"{user} on {host}.{catalog.CORP_DOMAIN}")
    elif kind == "brute_force":
        target = rng.choice(["administrator", *others[:3]])
        n = rng.randint(60, 200) if variant == "fast" else rng.randint(100, 150)
        span = rng.uniform(300, 600) if variant == "fast" else n * rng.uniform(40, 55)  # slow: ~1 a minute
        for j in range(n):
            ts = t + span * j / n
            dom.failed_logon(ts, FS[0], target, 3, ip=ip, station=host)
            dom.ntlm(ts + 0.01, target, host, "0xc000006a")
        if rng.random() < 0.5:
            dom.ntlm(t + span + 1, target, host, "0x0")
            dom.logon(t + span + 1.01, FS[0], target, 3, ip=ip, station=host, package="NTLM")
            item["success"] = target
        item.update(account=target, tries=n)
    elif kind == "kerberoast":
        services = [*USER_SERVICES, LEGACY_RC4] if variant == "all" else rng.sample(USER_SERVICES, 3)
        for j, service in enumerate(services):
            dom.ticket(t + j * 0.05, user, ip, service, enc="0x17")
        item.update(services=len(services))
    elif kind == "asrep":
        for j, account in enumerate(NO_PREAUTH):
            dom.tgt(t + j * 0.1, account, ip, preauth="0", enc="0x17")
        item.update(accounts=len(NO_PREAUTH))
    elif kind == "dcsync":
        account = f"adm_{user}" if variant == "admin" else f"{host}$"  # a relayed machine account given the rights
        for j in range(3):
            dom.ds_access(t + j * 0.02, DCS[0][0], account, GET_CHANGES if j == 0 else GET_CHANGES_ALL)
        item.update(account=account.lower())

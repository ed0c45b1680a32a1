"""A small real lake for the hunting tests: Zeek conn and dns, Sysmon process and network events, one finding."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

T0 = 1793577600.0  # 2026-11-02T00:00:00Z
C2 = "203.0.113.20"
#: a command line an attacker controls: colour and window-title escape sequences a terminal would obey
HOSTILE = "evil.exe -c \x1b[31mred\x1b]0;owned\x07 done"

_SYSMON = {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational"}


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(T0 + seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _exec(n: int, at: float, host: str, image: str, command: str, user: str = "EXAMPLE\\alice") -> dict:
    return {**_SYSMON, "Hostname": host, "TimeCreated": _when(at), "EventID": 1, "EventRecordID": n,
            "UtcTime": _when(at).replace("T", " ")[:-1], "ProcessGuid": f"{{00000000-0000-0000-0000-{n:012d}}}",
            "ProcessId": str(1000 + n), "Image": image, "CommandLine": command, "User": user,
            "ParentImage": "C:\\Windows\\explorer.exe", "ParentProcessId": "1000"}


def _connect(n: int, at: float, host: str, image: str, src: str, dst: str, dport: int) -> dict:
    return {**_SYSMON, "Hostname": host, "TimeCreated": _when(at), "EventID": 3, "EventRecordID": n,
            "UtcTime": _when(at).replace("T", " ")[:-1], "ProcessGuid": f"{{00000000-0000-0000-0000-{n:012d}}}",
            "ProcessId": str(1000 + n), "Image": image, "User": "EXAMPLE\\alice", "Protocol": "tcp",
            "Initiated": "true", "SourceIp": src, "SourcePort": "50000", "DestinationIp": dst,
            "DestinationPort": str(dport)}


def write_network_logs(folder: Path) -> None:
    """Zeek conn and dns (JSON): 10.0.0.5 reaches the C2 three times after resolving a.evil.com, others browse."""
    folder.mkdir(parents=True, exist_ok=True)
    conns = [(60.0 * i, f"C{i:05d}", "10.0.0.5", C2, 443) for i in range(1, 4)]
    conns += [(600.0 + i, f"D{i:05d}", f"10.0.0.{6 + i % 2}", "198.51.100.7", 80) for i in range(5)]
    with open(folder / "conn.log", "w") as out:
        for ts, uid, src, dst, port in conns:
            out.write(json.dumps({"ts": T0 + ts, "uid": uid, "id.orig_h": src, "id.orig_p": 50000,
                                  "id.resp_h": dst, "id.resp_p": port, "proto": "tcp", "conn_state": "SF",
                                  "orig_bytes": 100, "resp_bytes": 2000}) + "\n")
    with open(folder / "dns.log", "w") as out:
        out.write(json.dumps({"ts": T0 + 30, "uid": "Q00001", "id.orig_h": "10.0.0.5", "id.orig_p": 53000,
                              "id.resp_h": "10.0.0.53", "id.resp_p": 53, "proto": "udp", "query": "a.evil.com",
                              "qtype_name": "A", "rcode_name": "NOERROR", "answers": [C2]}) + "\n")


def write_ids_logs(folder: Path) -> None:
    """One Suricata EVE alert: 10.0.0.5 to the C2."""
    folder.mkdir(parents=True, exist_ok=True)
    alert = {"timestamp": _when(120).replace("Z", "+0000"), "flow_id": 1, "event_type": "alert", "host": "ids-a",
             "src_ip": "10.0.0.5", "src_port": 50000, "dest_ip": C2, "dest_port": 443, "proto": "TCP",
             "alert": {"action": "allowed", "gid": 1, "signature_id": 2052099, "rev": 2,
                       "signature": "ET MALWARE Test C2", "category": "A Network Trojan was detected", "severity": 1}}
    (folder / "eve.json").write_text(json.dumps(alert) + "\n")


def write_endpoint_logs(folder: Path) -> None:
    """Sysmon (JSON): explorer and cmd on three hosts, evil.exe once on WS01 with a hostile command line."""
    folder.mkdir(parents=True, exist_ok=True)
    events = []
    for i, host in enumerate(("WS01.example.local", "WS02.example.local", "WS03.example.local")):
        events.append(_exec(10 + i, 10 + i, host, "C:\\Windows\\explorer.exe", "explorer.exe"))
        events.append(_exec(20 + i, 20 + i, host, "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c dir"))
    events.append(_exec(30, 25, "WS01.example.local", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami"))
    events.append(_exec(40, 50, "WS01.example.local", "C:\\Users\\alice\\evil.exe", HOSTILE))
    events.append(_connect(41, 60, "WS01.example.local", "C:\\Users\\alice\\evil.exe", "10.0.0.5", C2, 443))
    with open(folder / "sysmon.jsonl", "w") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")


def store_finding(lake: Path) -> None:
    """One stored finding about WS01 and the C2, as a detection run would store it."""
    from winnow.engine import Window
    from winnow.lake import Lake
    from winnow.scoring import Finding
    from winnow.store import FindingsStore

    first = dt.datetime.fromtimestamp(T0 + 60, dt.UTC)
    finding = Finding("beacon", 0.9, f"10.0.0.5->{C2}:443", first, first + dt.timedelta(minutes=2),
                      {"timing": 0.9}, {"period_s": 60.0}, f"10.0.0.5 reached {C2}:443 every 60 s",
                      src="10.0.0.5", dst=C2, dport=443, host="WS01.example.local")
    with FindingsStore(Lake.open(lake)) as store:
        store.replace("run-1", "beacon", "duckdb", {}, Window(), [finding], 0.1)


def hunt_lake(factory, name: str) -> Path:
    """A lake ingested from the network, IDS and endpoint logs above, with the finding stored."""
    from conftest import ingested_lake

    def logs(folder: Path) -> None:
        write_network_logs(folder)
        write_ids_logs(folder)
        write_endpoint_logs(folder)

    path = ingested_lake(factory, name, logs)
    store_finding(path)
    return path

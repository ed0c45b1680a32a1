"""A small simulated lake for the workbench tests, with hostile log lines planted in it.

Log fields are attacker-controlled: a Zeek http.log whose user agent, URI and Host header carry
``<script>`` and ``<img onerror>``, and a Sysmon process whose image and command line carry markup
and ANSI escape sequences. Pages and the report must show them as text and run nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

#: the address whose only traffic is the hostile HTTP requests
XSS_SOURCE = "10.1.0.250"
XSS_HOST = "ws00005.corp.acme.internal"
XSS_UA = "<script>window.__xss=1;alert('ua')</script><img src=x onerror=\"window.__xss=2;alert('ua2')\">"
XSS_URI = "/<script>window.__xss=3</script>?q=<img src=x onerror=window.__xss=4>"
XSS_HTTP_HOST = "evil.example\"><svg onload=window.__xss=5>"
XSS_IMAGE = "C:\\Users\\Public\\<img src=x onerror=window.__xss=6>.exe"
XSS_COMMAND = "\x1b[31mpowershell -enc <script>window.__xss=7</script>\x1b[0m \x1b]0;title\x07"
INJECTED = ("script", "img[onerror]", "svg[onload]")

_HTTP_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer version "
                "user_agent origin request_body_len response_body_len status_code status_msg info_code info_msg "
                "tags username password proxied orig_fuids orig_filenames orig_mime_types resp_fuids "
                "resp_filenames resp_mime_types").split()
_HTTP_TYPES = ("time string addr port addr port count string string string string string string string count count "
               "count string count string set[enum] string string set[string] vector[string] vector[string] "
               "vector[string] vector[string] vector[string] vector[string]").split()


def hostile_logs(folder: Path) -> None:
    """Write the hostile http.log and Sysmon events into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\thttp",
            "#open\t2026-11-02-00-00-00", "#fields\t" + "\t".join(_HTTP_FIELDS), "#types\t" + "\t".join(_HTTP_TYPES)]
    lines = []
    for i in range(3):
        values = [f"{1793620800 + 60 * i}.5", f"CxSs{i}", XSS_SOURCE, str(50000 + i), "203.0.113.66", "80", "1",
                  "GET", XSS_HTTP_HOST, XSS_URI, "-", "1.1", XSS_UA, "-", "0", "512", "200", "OK", "-", "-",
                  "(empty)", "-", "-", "-", "-", "-", "-", "-", "-", "-"]
        lines.append("\t".join(values))
    (folder / "http.log").write_text("\n".join(head + lines) + "\n#close\t2026-11-02-23-59-59\n")
    event = {"@timestamp": "2026-11-02T12:00:00.000Z", "host": {"name": "WS00005.corp.acme.internal"},
             "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational",
                        "computer_name": "WS00005.corp.acme.internal", "event_id": 1,
                        "provider_name": "Microsoft-Windows-Sysmon", "record_id": 9990001,
                        "process": {"pid": 3036, "thread": {"id": 3848}},
                        "event_data": {"RuleName": "-", "UtcTime": "2026-11-02 12:00:00.000",
                                       "ProcessGuid": "{dca817e5-0000-0000-0000-00000000xss1}", "ProcessId": "31337",
                                       "Image": XSS_IMAGE, "CommandLine": XSS_COMMAND, "CurrentDirectory": "C:\\",
                                       "User": "CORP\\mallory", "LogonId": "0x3e7", "IntegrityLevel": "High",
                                       "Hashes": "SHA256=00", "ParentProcessGuid": "{00000000-0000-0000-0000-0}",
                                       "ParentProcessId": "1", "ParentImage": "C:\\Windows\\explorer.exe",
                                       "ParentCommandLine": "explorer.exe"}}}
    (folder / "sysmon.json").write_text(json.dumps(event) + "\n")


def workbench_lake(root: Path) -> Path:
    """Simulate 20 hosts for a day (with logons), add the hostile logs, ingest and detect; returns the lake."""
    from winnow.engine import connect
    from winnow.ingest import ingest
    from winnow.pipeline.detect import run_detectors
    from winnow.sim import simulate

    simulate(root / "logs", hosts=20, days=1, seed=3, logons=True)
    hostile_logs(root / "logs" / "hostile")
    ingest([root / "logs"], root / "lake")
    with connect("duckdb", root / "lake") as engine:
        run_detectors(engine)
    return root / "lake"


def top_beacon(rows: list[dict]) -> tuple[str, str, int]:
    """The pair of the first beacon finding among queue ``rows``' top findings."""
    from winnow.web.beacon_data import pair_of

    for row in rows:
        for f in row["top_findings"]:
            if f["detector"] == "beacon":
                return pair_of(f["finding"])
    raise AssertionError("the simulated lake has no beacon finding")

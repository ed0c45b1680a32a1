"""BITS jobs that fetch what attackers fetch: tools from the internet, or local programs copied as persistence.

The Background Intelligent Transfer Service downloads in the background for Windows Update, browsers and
agents, and for attackers (ATT&CK T1197): ``bitsadmin /transfer``, ``Start-BitsTransfer`` or a LOLBin
such as ``desktopimgdownldr.exe`` fetch a payload through a trusted service, and ``bitsadmin /addfile``
with a *local* source plus ``/SetNotifyCmdLine`` keeps a program running (persistence that survives
reboots). The Microsoft-Windows-Bits-Client/Operational log records each job: 3 (created, with the
creating process), 59/60 (a transfer started/stopped, with its URL) and 4 (completed).

Each job (by job id) is scored from its transfers and creator:

* ``local_source`` when a transfer's "URL" is a local or UNC path (``C:\\…``, ``\\\\host\\…``): a copy
  through BITS, the persistence trick;
* ``creator`` when the creating process is a command-line tool or script host (``tools``): people and
  malware, not updaters; half of it when the creator runs from a user-writable folder (per-user updaters
  live there too);
* ``payload`` when the URL's file is a program, script or archive (``payload_extensions``);
* ``vendor``: a URL whose host is a listed vendor service (``infrastructure.vendor_services``) is
  multiplied by ``vendor_weight``: Windows, browser and AV updates use BITS all day.

The score is ``base`` plus the parts that apply (capped at 1); jobs below ``min_score`` are left out
(Windows runs dozens of BITS jobs a day). One finding per (host, job); the URLs, job name, owner and
creator are evidence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, ClassVar
from urllib.parse import urlsplit

from winnow.detections._eventdata import windows_events, with_event_fields
from winnow.detections._infrastructure import vendor_service
from winnow.detections._windows_paths import SCRIPT_HOSTS, USER_WRITABLE
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

CHANNEL = "Microsoft-Windows-Bits-Client/Operational"
_LOCAL = re.compile(r"^([a-z]:\\|\\\\)", re.I)


@register
class BitsJobs(Detector):
    """Args:
    base: score of any BITS job that is not a vendor's update before the parts below.
    local_source: added when a transfer copies a local or UNC path (persistence through BITS).
    creator: added when the job was created by a command-line tool or script host (half of it for a program in a
        user-writable folder).
    payload: added when the URL's file is a program, script or archive.
    tools: image names (lower case) of tools and script hosts that create BITS jobs for people.
    writable_dirs: path fragments (lower case) of user-writable folders.
    payload_extensions: file extensions (lower case) of programs, scripts and archives.
    vendor_weight: multiplies the score of a job whose every URL is a vendor service
        (infrastructure.vendor_services).
    min_score: jobs scoring less are not reported.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "bits_jobs"
    description: ClassVar[str] = (
        "BITS jobs (Bits-Client 3/59/60) that copy local programs or fetch tools for a command-line creator (T1197)"
    )
    tables: ClassVar[tuple[str, ...]] = ("win.event",)

    def __init__(self, base: float = 0.3, local_source: float = 0.4, creator: float = 0.3, payload: float = 0.15,
                 tools: tuple[str, ...] = (*SCRIPT_HOSTS, "desktopimgdownldr.exe"),
                 writable_dirs: tuple[str, ...] = USER_WRITABLE,
                 payload_extensions: tuple[str, ...] = (".exe", ".dll", ".scr", ".ps1", ".bat", ".cmd", ".vbs",
                                                        ".js", ".hta", ".msi", ".zip", ".7z", ".rar", ".cab"),
                 vendor_weight: float = 0.3, min_score: float = 0.4, limit: int = 500) -> None:
        self.base = base
        self.local_source = local_source
        self.creator = creator
        self.payload = payload
        self.tools = tools
        self.writable_dirs = writable_dirs
        self.payload_extensions = payload_extensions
        self.vendor_weight = vendor_weight
        self.min_score = min_score
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        events = windows_events(engine, window, (3, 59, 60), channel=CHANNEL)
        if events is None:
            return []
        rows = with_event_fields(events, "jobId", "Id", "jobTitle", "name", "jobOwner", "processPath", "url",
                                 "string", "string2")
        keep = ["ts", "host", "event_id", "record_id", "jobId", "Id", "jobTitle", "name", "jobOwner", "processPath",
                "url", "string", "string2"]
        jobs: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"urls": [], "events": [], "ts": []})
        for r in fetch(rows.select(*keep)).to_pylist():
            job_id = r["jobId"] or r["Id"] or r["name"] or r["string"] or r["jobTitle"] or "?"
            job = jobs[(r["host"] or "?", job_id)]
            job["events"].append(r["event_id"])
            job["ts"].append(r["ts"])
            job["title"] = job.get("title") or r["jobTitle"] or r["name"] or r["string"]
            job["owner"] = job.get("owner") or r["jobOwner"] or r["string2"]
            job["creator"] = job.get("creator") or r["processPath"]
            if r["url"] and r["url"] not in job["urls"]:
                job["urls"].append(r["url"])
        findings = [f for (host, job_id), job in jobs.items() if job["urls"]
                    for f in [self._finding(host, job_id, job)] if f.score >= self.min_score]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _finding(self, host: str, job_id: str, job: dict) -> Finding:
        urls = job["urls"]
        creator = job.get("creator") or ""
        exe = creator.replace("/", "\\").rsplit("\\", 1)[-1].lower()
        local = self.local_source if any(_LOCAL.match(u) for u in urls) else 0.0
        writable = any(d in creator.lower() for d in self.writable_dirs)
        by_tool = self.creator if exe in self.tools else self.creator / 2 if writable else 0.0
        files = [urlsplit(u).path.lower() if "://" in u else u.lower() for u in urls]
        payload = self.payload if any(f.endswith(self.payload_extensions) for f in files) else 0.0
        hosts = [(urlsplit(u).hostname or "").lower() for u in urls if "://" in u]
        vendor = bool(hosts) and len(hosts) == len(urls) and all(vendor_service(h) for h in hosts)
        weight = self.vendor_weight if vendor else 1.0
        score = min(1.0, self.base + local + by_tool + payload) * weight
        ts = [t for t in job["ts"] if t is not None]
        title = job.get("title") or job_id
        parts = [p for p, on in (("it copies a local program (BITS persistence)", local),
                                 (f"it was created by {exe}", by_tool),
                                 ("it fetches a program, script or archive", payload)) if on]
        why = (f"BITS job \"{title}\" on {host} transferred {urls[0]}" + (f" and {len(urls) - 1} more" if len(urls) > 1
                                                                            else "")
               + (": " + "; ".join(parts) if parts else "") + ("; a vendor's update service" if vendor else ""))
        return Finding(
            detector=self.name, score=score, entity=f"{host}: BITS job {title}", host=host,
            user=job.get("owner"), first_seen=min(ts) if ts else None, last_seen=max(ts) if ts else None,
            components={"base": self.base, "local_source": local, "creator": by_tool, "payload": payload,
                        "vendor_weight": weight},
            evidence={"job_id": job_id, "title": title, "owner": job.get("owner"), "creator": creator or None,
                      "urls": urls[:10], "event_ids": sorted(set(job["events"]))},
            why=why,
        )


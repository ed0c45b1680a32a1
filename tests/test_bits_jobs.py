"""bits_jobs: BITS jobs that copy local programs or fetch payloads for a command-line creator (T1197)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

_B = {"SourceName": "Microsoft-Windows-Bits-Client", "Channel": "Microsoft-Windows-Bits-Client/Operational",
      "Computer": "WS1"}


def _job(minute: int, job: str, title: str, creator: str, url: str) -> list[dict]:
    at = f"2024-01-02T03:{minute:02d}:00Z"
    return [{**_B, "EventID": 3, "TimeCreated": at, "jobTitle": title, "jobId": job, "jobOwner": "WS1\\bob",
             "processPath": creator, "processId": 4},
            {**_B, "EventID": 59, "TimeCreated": at, "name": title, "Id": job, "url": url, "fileLength": 10},
            {**_B, "EventID": 60, "TimeCreated": at, "name": title, "Id": job, "url": url, "hr": 0}]


EVENTS = [
    # bitsadmin /addfile with a local source: the persistence trick
    *_job(1, "J1", "backdoor", "C:\\Windows\\System32\\bitsadmin.exe", "C:\\Windows\\system32\\cmd.exe"),
    # a LOLBin fetching an archive from a file-sharing site
    *_job(2, "J2", "Download LockScreen Image", "C:\\Windows\\System32\\desktopimgdownldr.exe",
          "https://files.example.net/a/Bin.7z"),
    # Windows fetching tiles and an updater fetching its own setup from its vendor: not reported
    *_job(3, "J3", "Push Notification Platform Job: 1", "C:\\Windows\\System32\\svchost.exe",
          "https://img-s-msn-com.akamaized.net/x.img"),
    *_job(4, "J4", "SetupBinary", "C:\\Users\\bob\\AppData\\Local\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe",
          "https://oneclient.sfx.ms/Win/Prod/OneDriveSetup.exe"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "bits.json").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))

    return ingested_lake(tmp_path_factory, "bits-jobs", write)


@pytest.mark.parametrize("engine_name", engine_params())
def test_bits_jobs(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = {f.entity: f for f in get_detector("bits_jobs").find(engine, Window())}
    assert sorted(found) == ["WS1: BITS job Download LockScreen Image", "WS1: BITS job backdoor"]
    persist = found["WS1: BITS job backdoor"]
    assert persist.severity == "high" and persist.components["local_source"] == 0.4
    assert "copies a local program (BITS persistence)" in persist.why and persist.evidence["event_ids"] == [3, 59, 60]
    fetch = found["WS1: BITS job Download LockScreen Image"]
    assert fetch.severity == "medium" and fetch.evidence["creator"].endswith("desktopimgdownldr.exe")
    assert fetch.why.startswith('BITS job "Download LockScreen Image" on WS1 transferred https://files.example.net/')
    with connect("duckdb", lake) as engine:  # every job, with the reporting floor removed
        scores = {f.evidence["title"]: f.score for f in get_detector("bits_jobs", min_score=0).find(engine, Window())}
    assert scores["SetupBinary"] < 0.4 and scores["Push Notification Platform Job: 1"] < 0.4

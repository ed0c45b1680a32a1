"""Identity attacks from Windows Security logs: the EventData helper, spraying, roasting, DCSync (both engines)."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect, fetch

SECURITY = {"Channel": "Security", "SourceName": "Microsoft-Windows-Security-Auditing"}


def _event(ts: str, event_id: int, host: str = "DC1.corp.local", **data: object) -> dict:
    return {"EventID": event_id, "TimeCreated": ts, "Hostname": host, **SECURITY, **data}


def _helper_events() -> list[dict]:
    return [
        _event("2026-11-02T08:00:00Z", 4768, TargetUserName="alice", PreAuthType="0", TicketEncryptionType="0x17"),
        _event("2026-11-02T08:00:01Z", 4662, SubjectUserName="bob", Properties="%%7688\r\n\t{1131f6aa-x}"),
        _event("2026-11-02T08:00:02Z", 4771, TargetUserName="carol", PreAuthType="-", Status="0x18"),
    ]


def _write_events(folder: Path, events: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "security.json").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.fixture(scope="module")
def helper_lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "eventdata", lambda d: _write_events(d, _helper_events()))


@pytest.mark.parametrize("engine_name", engine_params())
def test_event_fields_on_both_engines(helper_lake, engine_name) -> None:
    from winnow.detections._eventdata import windows_events, with_event_fields

    with connect(engine_name, helper_lake) as engine:
        events = windows_events(engine, Window(), (4768, 4662, 4771))
        rows = with_event_fields(events, "PreAuthType", "Status", "Properties", "TargetUserName")
        got = {r["event_id"]: r for r in fetch(rows.select(
            "event_id", "PreAuthType", "Status", "Properties", "TargetUserName")).to_pylist()}
        bad = fetch(with_event_fields(rows.mutate(data=ibis.literal('{"Status": 0x')), "Status")
                    .select("Status")).to_pylist()
        assert windows_events(engine, Window(), (4768,), channel="System") is not None
    assert got[4768]["PreAuthType"] == "0" and got[4768]["TargetUserName"] == "alice"
    assert got[4771]["PreAuthType"] is None and got[4771]["Status"] == "0x18"  # "-" reads as no value
    assert got[4662]["Properties"].startswith("%%7688\r\n") and "{1131f6aa-x}" in got[4662]["Properties"]
    assert bad == [{"Status": None}] * 3  # malformed JSON: nulls, no error


def test_event_field_rejects_odd_names() -> None:
    from winnow.detections._eventdata import event_field

    with pytest.raises(ValueError):
        event_field(ibis.literal("{}"), "a'] or 1=1")

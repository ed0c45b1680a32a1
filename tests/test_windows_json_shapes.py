"""Windows JSON lines read column-wise (by shape) give exactly the rows and warnings of the line-by-line path.

``ingest.json_shape_rows`` picks the path: 1 reads every shape column-wise, a huge value reads every line one by
one (the way of earlier versions); column-wise, ``ingest.json_known_shapes`` 0 sends every line through the shape
pass, more matches a block's lines against the shapes of the block before first. The paths run on the shared
Mordor exports, on a simulated endpoint day and on hostile lines; tables (sorted by line), warnings and the error
that abandons a file must be identical.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from winnow.sources import AbandonFile, ParseContext, get_source
from winnow.sources.json_shapes import _SHAPE_PASSES, KnownShapes, block_lines, shape_pattern, shapes
from winnow.sources.windows_json_shapes import shape_events

LINE_BY_LINE = 10**9


def _parse(data: bytes, shape_rows: int, block_size: int = 16 << 20, workers: int = 0, known: int = 4
           ) -> tuple[dict, list, str | None]:
    ctx = ParseContext("f.json", json_shape_rows=shape_rows, block_size=block_size, max_consecutive_bad=20,
                       parse_workers=workers, json_known_shapes=known)
    parts: dict[str, list[pa.Table]] = {}
    error = None
    try:
        for batch in get_source("windows_json").parse(io.BytesIO(data), ctx):
            parts.setdefault(batch.table, []).append(batch.data)
    except AbandonFile as exc:
        error = str(exc)
    tables = {name: pa.concat_tables(p).sort_by("_line") for name, p in parts.items()}
    warnings = sorted((w.line or 0, w.reason, w.snippet) for w in ctx.warnings)
    return tables, warnings, error


def _same(data: bytes, block_size: int = 16 << 20, workers: int = 0) -> dict[str, pa.Table]:
    tables, warnings, expected_error = _parse(data, LINE_BY_LINE, block_size)
    for known in (0, 4):  # every line through the shape pass; the shapes of the block before matched first
        shaped, warned, error = _parse(data, 1, block_size, workers, known)
        assert sorted(shaped) == sorted(tables)
        for name, table in tables.items():
            assert shaped[name].schema == table.schema, name
            assert shaped[name].to_pylist() == table.to_pylist(), name
        assert warned == warnings
        assert error == expected_error
    return tables


def _column_wise_share(data: bytes) -> float:
    """Share of the lines that the column-wise path takes."""
    lines = block_lines(data)
    assert lines is not None
    found, _ = shapes(lines, 1)
    taken = sum(len(s.rows) - len(e.one_by_one) for s in found if (e := shape_events(s)) is not None)
    return taken / len(lines)


#: member -> share of its lines read column-wise at least (the log4shell exports are Sentinel's: packed EventData)
MORDOR_MEMBERS = {"aptsimulator_cobaltstrike": 1.0, "empire_psexec_dcerpc": 1.0, "empire_shell_samr": 1.0,
                  "psh_python_webserver": 1.0, "securityauditing_log4shell": 0.0, "sysmon_log4shell": 0.0}


@pytest.mark.parametrize(("member", "share"), MORDOR_MEMBERS.items())
def test_mordor_exports_give_the_same_rows(shared_data: Path, member: str, share: float) -> None:
    zips = [p for p in sorted((shared_data / "mordor").rglob("*.zip")) if p.name.startswith(member)]
    assert zips, member
    with zipfile.ZipFile(zips[0]) as archive:
        data = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".json"))
    tables = _same(data)
    assert tables["win.event"].num_rows > 30
    assert _column_wise_share(data) >= share


def test_simulated_endpoint_day_gives_the_same_rows(tmp_path: Path) -> None:
    from winnow.sim import simulate

    simulate(tmp_path, hosts=30, days=1, seed=3)
    for name in ("sysmon.json", "security.json"):
        data = next(tmp_path.rglob(name)).read_bytes()
        tables = _same(data, block_size=1 << 20)
        assert tables["win.event"].num_rows > 1000
        assert _column_wise_share(data[: 1 << 20].rsplit(b"\n", 1)[0] + b"\n") == 1.0


def _winlogbeat(i: int, event_id: object = 3, **data: object) -> dict:
    event_data = {"UtcTime": f"2026-11-02 10:00:{i % 60:02d}.123", "ProcessGuid": "{x}", "ProcessId": str(100 + i),
                  "Image": "C:\\Windows\\a.exe", "Initiated": "true", "SourceIp": "10.0.0.1",
                  "SourcePort": str(50000 + i), "DestinationIp": "10.0.0.2", "DestinationPort": "443", **data}
    return {"@timestamp": "2026-11-02T10:00:00.000Z", "host": {"name": "WS1"},
            "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "computer_name": "ws1.corp",
                       "event_id": event_id, "provider_name": "Microsoft-Windows-Sysmon", "record_id": i,
                       "process": {"pid": 4, "thread": {"id": 8}}, "event_data": event_data}}


def _flat(i: int, **fields: object) -> dict:
    return {"EventID": 4624, "Channel": "Security", "SourceName": "Microsoft-Windows-Security-Auditing",
            "Hostname": "DC1", "TimeCreated": "2026-11-02T10:00:00.5Z", "RecordNumber": i, "TargetUserName": "bob",
            "IpAddress": "::ffff:10.0.0.9", "LogonType": 3, "Level": "4", "Task": 12544, **fields}


HOSTILE_TEXT = ['quote " and back\\slash', "new\nline\ttab\rcr", "bell\x07 nul\x00 esc\x1b", "é ü 中文 😀",
                "\u2028\u2029", "{\"json\": [1, 2]}", "'; DROP TABLE x; --", "<script>alert(1)</script>", "", "-",
                "\\\\server\\share"]


def _hostile_lines() -> list[str]:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = []
    for i in range(40):
        text = HOSTILE_TEXT[i % len(HOSTILE_TEXT)]
        lines.append(dumps(_winlogbeat(i, CommandLine=text)))
        lines.append(json.dumps(_winlogbeat(i, CommandLine=text)))  # spaces, ASCII escapes
        lines.append(dumps(_winlogbeat(i, event_id=1, CommandLine=text, ParentImage=None)))
        lines.append(dumps(_flat(i, SubjectUserName=text, Keywords=-9214364837600034816, EventType="AUDIT_SUCCESS")))
        lines.append(dumps(_flat(i, EventID=13, Channel="Microsoft-Windows-Sysmon/Operational",
                                 SourceName="Microsoft-Windows-Sysmon", EventType="SetValue", TargetObject=text,
                                 Details=None, UtcTime="2026-11-02 10:00:01.000", Opcode="Info")))
    odd = [
        '{"EventID":"0x10","Channel":"System","SourceName":"Service Control Manager","Hostname":"h",'
        '"TimeCreated":"2026-11-02T10:00:00Z","param1":"x"}',
        '{"EventID":null,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z"}',
        '{"EventID":4624,"EventID":4625,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z"}',
        '{"EventID":4624,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z","Big":123456789012345678901}',
        '{"EventID":4624,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z","F":1.5,"Z":-0}',
        '{"EventID":4624,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z","S":"a\\/b\\u00e9\\ud83d\\ude00"}',
        '{"EventID":4624,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z","S":"\\ud800"}',
        '{"EventID":4624,"Channel":"Security","Hostname":"h","TimeCreated":"not a time","tags":["a","b"]}',
        '{"EventID":4624,"Channel":"Security","Hostname":"h","TimeCreated":"2026-11-02T10:00:00Z","EventData":"<x/>"}',
        '{"winlog":{"event_id":0,"channel":"Security","computer_name":""},"event":{"code":"4624"},"host":{"name":"n"},'
        '"@timestamp":"2026-11-02T10:00:00Z"}',
        '{"winlog.event_id":4624,"winlog.channel":"Security","@timestamp":"2026-11-02T10:00:00Z"}',
        '{"winlog":{"event_id":1102,"channel":"Security","user_data":{"xml_name":"LogFileCleared","SubjectUserName":"a"}},'
        '"@timestamp":"2026-11-02T10:00:00Z"}',
        "not json at all", "[1,2,3]", '{"no":"windows"}', "", "   ", '{"EventID":4624,"Channel":"Security"} trailing',
    ]
    for i, line in enumerate(odd):
        lines.insert(7 * i + 3, line)
    return lines


def test_hostile_lines_give_the_same_rows_and_warnings() -> None:
    data = "\n".join(_hostile_lines()).encode() + b"\n"
    tables = _same(data)
    _same(data, block_size=4096)  # many blocks, each with its own shapes
    _same(data, block_size=4096, workers=2)  # blocks prepared on worker threads
    _same(data.replace(b"\n", b"\r\n"))
    assert tables["win.event"].num_rows > 150 and tables["proc.net"].num_rows >= 40
    assert 0.3 < _column_wise_share(data) < 1.0


def test_a_run_of_bad_lines_abandons_the_file_at_the_same_line() -> None:
    good = [json.dumps(_winlogbeat(i), separators=(",", ":")) for i in range(200)]
    lines = good[:120] + ["{broken"] * 25 + good[120:]
    data = "\n".join(lines).encode() + b"\n"
    tables = _same(data)
    _same(data, block_size=8192, workers=2)
    _, _, error = _parse(data, 1)
    assert error is not None and "line 140" in error
    assert tables["win.event"].num_rows == 120


#: characters random text is made of: escapes, control characters, non-ASCII, JSON punctuation
_PIECES = ["a", "Z", " ", '"', "\\", "/", "\n", "\t", "\x01", "é", "中", "😀", "\u2028", ":", ",", "{", "}", "[", "-",
           "0"]
_KEYS = ["Image", "CommandLine", "ProcessId", "UtcTime", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort",
         "Initiated", "User", "EventType", "Type", "TargetObject", "Message", "tags", "Level", "Task", "Opcode",
         "OpcodeValue", "Keywords", "UserID", "ThreadID", "EventTime", "@timestamp", "host", "TargetUserName",
         "IpAddress", "LogonType", "Status", "UserData"]


def _random_value(r: random.Random, depth: int = 0) -> object:
    k = r.random()
    if k < 0.45:
        return "".join(r.choice(_PIECES) for _ in range(r.randint(0, 8)))
    if k < 0.6:
        return r.choice([0, 1, -1, 2**40, -(2**63), 2**63 - 1, r.randint(-10**6, 10**6)])
    if k < 0.7:
        return r.choice([True, False])
    if k < 0.8:
        return None
    if k < 0.87 and depth < 2:
        return {r.choice(_KEYS): _random_value(r, depth + 1) for _ in range(r.randint(0, 3))}
    if k < 0.93:
        return [r.choice(["a", "b"]) for _ in range(r.randint(0, 2))]
    return r.choice(["1.5", "-", "", "0x10", "4624", " 7", "INFO", "SetValue", "WindowsEvent"])


def _random_event(r: random.Random) -> dict:
    data = {k: _random_value(r) for k in r.sample(_KEYS, r.randint(0, 8))}
    if r.random() < 0.5:
        return {"EventID": r.choice([1, 3, 13, 4624, 4688, 7045, "4624", None, 0]),
                r.choice(["Channel", "SourceName"]): r.choice(["Security", "System", "Microsoft-Windows-Sysmon", None]),
                "Hostname": r.choice(["h1", "", None]),
                "TimeCreated": r.choice(["2026-11-02T10:00:00Z", "2026-11-02 10:00:00.1234567", "bad", None]), **data}
    plain = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    return {"@timestamp": r.choice(["2026-11-02T10:00:00.000Z", None, "bad"]), "host": {"name": "H"},
            "winlog": {"channel": r.choice(["Microsoft-Windows-Sysmon/Operational", "Security", None]),
                       "event_id": r.choice([1, 3, 22, 4624, 0, None, "3"]),
                       "provider_name": "Microsoft-Windows-Sysmon",
                       "computer_name": r.choice(["ws", "", None]), "record_id": r.choice([1, None, "x"]),
                       "event_data": plain}}


def _seeded_lines(seed: int) -> tuple[list[str], random.Random]:
    """300 lines of six random events, some values changed, some with spaces, some cut short; and the generator."""
    r = random.Random(seed)
    kinds = [_random_event(r) for _ in range(6)]
    lines = []
    for _ in range(300):
        event = json.loads(json.dumps(r.choice(kinds)))
        for key in list(event)[:3]:
            if isinstance(event[key], str) and r.random() < 0.3:
                event[key] = "".join(r.choice(_PIECES) for _ in range(5))
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":")) if r.random() < 0.85 else json.dumps(event)
        lines.append(text if r.random() < 0.95 else text[: -r.randint(1, 5)])
    return lines, r


@pytest.mark.parametrize("seed", range(6))
def test_random_lines_give_the_same_rows_and_warnings(seed: int) -> None:
    lines, r = _seeded_lines(seed)
    _same(("\r\n" if seed % 3 == 0 else "\n").join(lines).encode() + b"\n", block_size=r.choice([4096, 1 << 20]))


def _signatures(lines: pa.Array) -> list[str]:
    """Each line's shape, by the shape pass itself."""
    signature = pc.utf8_rtrim(lines, "\r\n")
    for pattern, replacement in _SHAPE_PASSES:
        signature = pc.replace_substring_regex(signature, pattern, replacement)
    return pc.replace_substring(signature, ":null", ":").to_pylist()


@pytest.mark.parametrize("seed", range(3))
def test_a_known_shape_matches_exactly_the_lines_of_that_shape(seed: int) -> None:
    lines = block_lines(("\n".join(_hostile_lines() + _seeded_lines(seed)[0]) + "\n").encode())
    assert lines is not None
    signatures = _signatures(lines)
    found, _ = shapes(lines, 1)
    assert len(found) > 10
    for shape in found:
        spelled = signatures[int(shape.rows[0])]
        hits = pc.match_substring_regex(lines, shape_pattern(spelled)).to_pylist()
        assert [i for i, hit in enumerate(hits) if hit] == shape.rows.tolist(), spelled
        assert [i for i, s in enumerate(signatures) if s == spelled] == shape.rows.tolist()


def test_known_shapes_group_a_block_as_the_shape_pass() -> None:
    text = "\n".join(_hostile_lines() + _seeded_lines(7)[0]) + "\n"
    lines = block_lines(text.encode())
    assert lines is not None
    expected, expected_rest = shapes(lines, 2)
    known = KnownShapes(3)
    shapes(lines, 2, known)
    assert len(known.patterns) == 3  # the three shapes of most lines
    for _ in range(2):  # with the shapes known (and again, with those they left known)
        found, rest = shapes(lines, 2, known)
        assert [s.rows.tolist() for s in found] == [s.rows.tolist() for s in expected]
        assert [s.keys for s in found] == [s.keys for s in expected]
        assert all(a.table.equals(b.table) for a, b in zip(found, expected, strict=True))
        assert rest.tolist() == expected_rest.tolist()


def test_a_shape_too_large_for_a_pattern_takes_the_shape_pass() -> None:
    event = {"EventID": 4624, "Channel": "Security", **{f"Field{i:05d}": "v" for i in range(20_000)}}
    lines = block_lines(("\n".join([json.dumps(event, separators=(",", ":"))] * 3) + "\n").encode())
    assert lines is not None
    known = KnownShapes(4)
    expected, _ = shapes(lines, 1, known)
    assert len(known.patterns) == 1
    with pytest.raises(pa.ArrowInvalid):  # RE2 refuses the pattern ...
        pc.match_substring_regex(lines, known.patterns[0][1])
    found, rest = shapes(lines, 1, known)  # ... and the lines are grouped all the same
    assert [s.rows.tolist() for s in found] == [s.rows.tolist() for s in expected] == [[0, 1, 2]]
    assert not len(rest)

"""The auditd source: event assembly, decoding, mapping, hostile input, and the public golden parses.

Golden oracles (shared data, ``auditd/`` in its MANIFEST): go-libaudit ``auparse`` (per-record field
decoding: EXECVE argv, SOCKADDR, PROCTITLE, hex paths), go-libaudit ``aucoalesce`` (whole events: argv,
cwd, socket peers, login outcomes) and audit-userspace ``auparse_test.ref`` (records per event).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from winnow.sources import ParseContext, sources
from winnow.sources.auditd_events import Assembler, read_events
from winnow.sources.auditd_records import fields, first_field, join_args, parse_header, proctitle, sockaddr, text

HERE = Path(__file__).parent
FIXTURES = HERE / "data" / "auditd"
SAMPLE = HERE / "samples" / "auditd.log"


def parse(data: bytes, name: str = "audit.log") -> tuple[dict[str, list[dict]], ParseContext]:
    """Rows per table (as dicts, ``extra`` decoded) and the parse context."""
    ctx = ParseContext(name)
    rows: dict[str, list[dict]] = {}
    for batch in sources()["auditd"].parse(io.BytesIO(data), ctx):
        for row in batch.data.to_pylist():
            row["extra"] = json.loads(row["extra"]) if row.get("extra") else {}
            rows.setdefault(batch.table, []).append(row)
    return rows, ctx


def one(rows: dict[str, list[dict]], table: str) -> dict:
    assert len(rows.get(table, [])) == 1, rows.get(table)
    return rows[table][0]


# ---------------------------------------------------------------- hand-written samples


def test_sample_maps_exec_net_and_logons():
    rows, ctx = parse(SAMPLE.read_bytes())
    assert not ctx.warnings and not ctx.unsupported
    exe = one(rows, "proc.exec")
    assert (exe["pid"], exe["ppid"], exe["image"], exe["cwd"]) == (1001, 900, "/usr/bin/bash", "/home/alice")
    assert exe["command_line"] == "bash -c echo hi there"  # a2 was hex because of its spaces
    assert exe["process_guid"] == ":1001:1700000000.100" and exe["record_id"] == 501
    assert (exe["uid"], exe["auid"], exe["user"], exe["logon_id"], exe["action"]) == (1000, 1000, "1000", "3", "start")
    assert exe["ts"].isoformat() == "2023-11-14T22:13:20.100000+00:00" and exe["_line"] == 1
    net = one(rows, "proc.net")
    assert (net["action"], net["direction"], net["dst_ip"], net["dst_port"]) == (
        "connect", "outbound", "203.0.113.7", 443)
    assert net.get("src_ip") is None and net["family"] == "inet"
    assert net["success"] is True  # EINPROGRESS on a non-blocking connect counts as success
    assert net["_line"] == 7 and net["extra"]["proctitle"] == "curl https://203.0.113.7/"
    auth = {r["record_id"]: r for r in rows["auth.logon"]}
    failed = auth[503]
    assert (failed["action"], failed["outcome"], failed["user"], failed["src_ip"]) == (
        "credential_validation", "failure", "root", "198.51.100.9")
    assert (failed["process"], failed["logon_type"], failed["method"], failed.get("subject_user")) == (
        "sshd", "ssh", "pam", None)
    login = auth[504]
    assert (login["action"], login["outcome"], login["user"], login["logon_id"]) == ("logon", "success", "1000", "4")


def test_enriched_format_names_users_and_reads_glued_fields():
    rows, ctx = parse((FIXTURES / "enriched.log").read_bytes())
    assert not ctx.warnings
    exe = one(rows, "proc.exec")
    assert (exe["host"], exe["user"], exe["process_guid"]) == ("web1", "alice", "web1:813:1731248210.500")
    assert exe["extra"]["auid_name"] == "alice"
    by_action = {r["action"]: r for r in rows["proc.net"]}
    assert (by_action["connect"]["dst_ip"], by_action["connect"]["dst_port"]) == ("100.100.100.100", 53)
    accept = by_action["accept"]  # its GS separators were lost: SYSCALL=accept glued to key="net"
    assert (accept["direction"], accept["src_ip"], accept["src_port"], accept["family"]) == (
        "inbound", "2001:db8::5", 50022, "inet6")
    assert accept.get("dst_ip") is None and accept["user"] == "root"
    auth = one(rows, "auth.logon")
    assert (auth["user"], auth["outcome"], auth["host"]) == ("alice", "success", "web1")


def test_interleaved_events_arches_families_and_long_arguments():
    rows, ctx = parse((FIXTURES / "interleaved.log").read_bytes())
    assert not ctx.warnings
    exe = one(rows, "proc.exec")
    # a1 in the a1_len / a1[0] / a1[1] form, cut inside a two-byte character; a2/a3 in a second EXECVE record
    assert exe["command_line"] == 'python3 AAAAAAAAAAAAAAAAAAAA with space ééé -v x"y'
    assert exe["image"] == "/usr/bin/python3.11" and exe["_line"] == 1
    net = {r["record_id"]: r for r in rows["proc.net"]}
    assert (net[602]["action"], net[602].get("direction"), net[602]["dst_port"]) == ("bind", None, 4444)
    unix = net[603]  # i386 socketcall(SYS_CONNECT) to a unix socket
    assert (unix["action"], unix["family"], unix.get("dst_ip"), unix["extra"]["path"]) == (
        "connect", "unix", None, "/var/run/nscd/socket")
    mapped = net[605]  # aarch64 connect to an IPv4-mapped IPv6 address, refused
    assert (mapped["dst_ip"], mapped["dst_port"], mapped["family"], mapped["success"]) == (
        "192.0.2.44", 8080, "inet6", False)
    assert ctx.unsupported == {"auditd connect netlink": 1, "auditd PROCTITLE": 1}


def test_event_cut_at_end_of_file_is_emitted():
    head = b"\n".join(SAMPLE.read_bytes().splitlines()[:3]) + b"\n"  # SYSCALL + EXECVE + CWD, no EOE
    rows, ctx = parse(head)
    assert one(rows, "proc.exec")["command_line"] == "bash -c echo hi there" and not ctx.warnings


def test_window_bounds_open_events():
    ctx = ParseContext("x")
    assembler = Assembler(ctx, window=100)
    done = 0
    for i in range(20_000):  # PROCTITLE-only events that never see an EOE
        record = parse_header(f"type=PROCTITLE msg=audit(1700000000.000:{i}): proctitle=\"x\"", i + 1)
        done += len(assembler.add(record) or [])
        assert len(assembler.open) < 100 + 512 + 1
    assert done + len(assembler.drain()) == 20_000


def test_records_per_event_match_auparse_reference(shared_data):
    folder = shared_data / "auditd" / "audit-userspace-auparse"
    ref = (folder / "auparse_test.ref").read_text()

    def expected(test: str) -> list[int]:
        section = ref.split(f"Starting Test {test},", 1)[1].split("Starting Test", 1)[0]
        return [int(n) for n in re.findall(r"event \d+ has (\d+) records", section)]

    for log, test in (("test.log", "4"), ("test4.log", "11")):
        with open(folder / log, "rb") as fh:
            events = sorted(read_events(fh, ParseContext(log)), key=lambda e: e[0].line)
        assert [len(e) for e in events] == expected(test), log


# ---------------------------------------------------------------- golden parses (go-libaudit)

FAMILY = {"ipv4": "inet", "ipv6": "inet6", "unix": "unix", "netlink": "netlink", "0": "unspec"}


def test_record_decoding_matches_go_libaudit_auparse(shared_data):
    compared = 0
    for log in sorted((shared_data / "auditd" / "go-libaudit-auparse").glob("*.log")):
        golden = {(g["sequence"], g["record_type"]): g.get("data") or {}
                  for g in json.loads(log.with_name(log.name + ".golden").read_text()) if g}
        for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
            if " msg=audit(" not in line:
                continue  # type=UNKNOWN[1329] msg=? has no golden either
            record = parse_header(line, number)
            want = golden[(record.serial, record.kind.lower())]
            found = fields(record)
            if record.kind == "EXECVE":
                args: dict = {}
                from winnow.sources.auditd_records import execve_args

                execve_args(record, args)
                got = join_args(args)
                assert got == [want[f"a{i}"] for i in range(int(want["argc"]))], line
                compared += 1
            elif record.kind == "SOCKADDR":
                addr = sockaddr(first_field(record, "saddr"))
                assert addr.family == FAMILY[want["family"]]
                assert (addr.ip, addr.port, addr.path) == (
                    want.get("addr"), int(want["port"]) if "port" in want else None, want.get("path"))
                compared += 1
            elif record.kind == "PROCTITLE":
                assert proctitle(found["proctitle"]) == want["proctitle"]
                compared += 1
            for key in ("exe", "comm", "cwd", "cmd", "name", "acct"):
                if key in found and key in want:
                    assert text(found[key]) == want[key], (line, key)
                    compared += 1
    assert compared >= 100


def _yaml_events(path: Path) -> dict[str, bytes]:
    """The named raw events of an aucoalesce test file (a tiny reader for its ``name: |`` blocks)."""
    events: dict[str, list[str]] = {}
    name = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^  (\S.*?):\s*[|>]-?\s*$", line)
        if m:
            name = m.group(1).strip("\"'")
            events[name] = []
        elif name and line.strip().startswith(("type=", "node=")):
            events[name].append(line.strip())
    return {k: ("\n".join(v) + "\n").encode() for k, v in events.items()}


def test_events_match_go_libaudit_aucoalesce(shared_data):
    checked = 0
    for path in sorted((shared_data / "auditd" / "go-libaudit-aucoalesce").glob("*.yaml")):
        golden = {g["test_name"]: g["event"] for g in json.loads(path.with_suffix(".json.golden").read_text())}
        for name, raw in _yaml_events(path).items():
            want = golden[name]
            rows, ctx = parse(raw, name)
            assert not ctx.warnings, name
            process = want.get("process", {})
            syscall = want.get("data", {}).get("syscall")
            if "args" in process:
                row = one(rows, "proc.exec")
                assert row["command_line"] == " ".join(process["args"]) and str(row["pid"]) == process["pid"]
                assert row.get("cwd") == process.get("cwd") and row["record_id"] == want["sequence"]
                checked += 1
            elif syscall in ("connect", "accept", "bind"):
                row = one(rows, "proc.net")
                side, prefix = ("destination", "dst") if "destination" in want else ("source", "src")
                assert (row[f"{prefix}_ip"], str(row[f"{prefix}_port"])) == (want[side]["ip"], want[side]["port"])
                checked += 1
            elif want["record_type"].upper() in ("USER_LOGIN", "USER_AUTH", "USER_START", "USER_END", "CRED_ACQ",
                                                 "USER_ERR", "USER_CMD", "USER_LOGOUT"):
                row = one(rows, "auth.logon")
                assert row["outcome"] == {"fail": "failure", "success": "success"}[want["result"]], name
                assert row["src_ip"] == want.get("source", {}).get("ip"), name
                assert row["record_id"] == want["sequence"]
                checked += 1
    assert checked >= 15


# ---------------------------------------------------------------- every raw sample ingests

#: lines in the shared samples that really are not audit records (shell prompts pasted into the files)
BROKEN = {"UC006_enriched.log": 3, "UC014.log": 1}


def test_every_shared_sample_ingests(shared_data, tmp_path):
    from winnow.ingest import ingest

    root = shared_data / "auditd"
    files = [p for p in sorted(root.rglob("*.log")) if not p.name.endswith("_secure.log")]
    report = ingest(files, tmp_path / "lake", fmt="auditd")
    assert len(report.files) == len(files)
    for item in report.files:
        name = Path(item.file).name
        assert item.status == "ingested", (item.file, item.message)
        assert item.warnings == BROKEN.get(name, 0), (item.file, item.message)
    rows = {t: sum(pq.read_metadata(p).num_rows for p in (tmp_path / "lake" / t).rglob("*.parquet"))
            for t in ("proc.exec", "proc.net", "auth.logon")}
    assert rows["proc.exec"] >= 10 and rows["proc.net"] >= 6 and rows["auth.logon"] >= 20


def test_izysec_ssh_failure_is_one_failed_logon(shared_data):
    data = (shared_data / "auditd" / "izysec-usecases" / "userauth_ssh_failure_auditd.log").read_bytes()
    row = one(parse(data)[0], "auth.logon")
    assert (row["user"], row["src_ip"], row["outcome"], row["logon_type"]) == ("izy", "192.168.226.1", "failure", "ssh")


# ---------------------------------------------------------------- hostile and broken input


def test_garbage_line_in_the_middle_keeps_neighbours():
    lines = SAMPLE.read_bytes().splitlines()
    data = b"\n".join(lines[:6] + [b"\x00\x01 garbage {not audit"] + lines[6:]) + b"\n"
    rows, ctx = parse(data)
    assert [(w.line, w.reason) for w in ctx.warnings] == [(7, "not an audit record")]
    assert {t: len(r) for t, r in rows.items()} == {"proc.exec": 1, "proc.net": 1, "auth.logon": 2}


def test_truncated_last_line():
    data = SAMPLE.read_bytes()
    cut = data[: data.rindex(b"type=USER_LOGIN") + 40]  # header cut inside msg=audit(...)
    rows, ctx = parse(cut)
    assert [(w.line, w.reason) for w in ctx.warnings] == [(11, "audit record with a damaged header")]
    assert len(rows["auth.logon"]) == 1 and len(rows["proc.exec"]) == 1


def test_invalid_hex_is_reported_and_kept():
    bad = (b'type=SYSCALL msg=audit(1700000000.100:9): arch=c000003e syscall=59 success=yes exit=0 pid=5 ppid=1 '
           b'uid=0 auid=0 ses=1 exe="/bin/x"\n'
           b"type=EXECVE msg=audit(1700000000.100:9): argc=2 a0=\"x\" a1=4142Z\n"
           b"type=SYSCALL msg=audit(1700000000.200:10): arch=c000003e syscall=42 success=yes exit=0 pid=5 ppid=1\n"
           b"type=SOCKADDR msg=audit(1700000000.200:10): saddr=02000050ZZ\n")
    rows, ctx = parse(bad)
    assert one(rows, "proc.exec")["command_line"] == "x 4142Z"
    assert [(w.line, w.reason) for w in ctx.warnings] == [
        (2, "EXECVE a1 is neither quoted nor hex; kept as logged"), (4, "SOCKADDR saddr is not a socket address")]
    assert "proc.net" not in rows


def test_huge_argument_counts_and_overflowing_numbers():
    args = " ".join(f'a{i}="{i}"' for i in range(5000))
    data = (f"type=SYSCALL msg=audit(1700000000.100:9): arch=c000003e syscall=59 success=yes exit=0 "
            f"pid=99999999999999999999999 ppid=-3 uid=0 auid=4294967295 ses=4294967295 exe=\"/bin/x\"\n"
            f"type=EXECVE msg=audit(1700000000.100:9): argc=4294967295 {args}\n").encode()
    rows, ctx = parse(data)
    row = one(rows, "proc.exec")
    assert not ctx.warnings and len(row["command_line"].split()) == 5000
    assert [row.get(c) for c in ("pid", "ppid", "auid", "logon_id", "process_guid")] == [None] * 5
    assert row["extra"]["argc"] == "4294967295"


def test_too_many_records_in_one_event_are_capped():
    line = b'type=PATH msg=audit(1700000000.100:9): item=0 name="/x"\n'
    rows, ctx = parse(line * 1200)
    assert [w.reason for w in ctx.warnings] == ["event has more than 1000 records; the rest dropped"]


def test_non_utf8_bytes_are_replaced_with_a_warning():
    data = (b"type=USER_AUTH msg=audit(1700000002.300:503): pid=1 uid=0 auid=4294967295 ses=4294967295 "
            b"msg='op=PAM:authentication acct=\"r\xffoot\" exe=\"/usr/sbin/sshd\" hostname=? addr=? terminal=ssh "
            b"res=failed'\n")
    rows, ctx = parse(data)
    assert [(w.line, w.reason) for w in ctx.warnings] == [(1, "invalid UTF-8, undecodable bytes replaced")]
    assert one(rows, "auth.logon")["user"] == "r\ufffdoot"


def test_hostile_strings_stay_data():
    acct = b'x" res=success addr=10.0.0.1 {"a":1}\n\\'.hex().upper()
    data = (f"type=USER_LOGIN msg=audit(1700000003.400:504): pid=2 uid=0 auid=4294967295 ses=4294967295 "
            f"msg='op=login acct={acct} exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.9 terminal=ssh "
            f"res=failed'\n").encode()
    row = one(parse(data)[0], "auth.logon")
    assert row["user"] == 'x" res=success addr=10.0.0.1 {"a":1}\n\\'
    assert (row["outcome"], row["src_ip"]) == ("failure", "203.0.113.9")


def test_sniff():
    auditd = sources()["auditd"]
    assert auditd.sniff(SAMPLE.read_bytes(), "audit.log")
    assert auditd.sniff(b"----\ntime->Mon Feb  6 13:26:53 2023\n" + SAMPLE.read_bytes(), "x")
    assert auditd.sniff(b"type=PROCTITLE msg=audit(02/06/2023 14:39:30.702:35495) : proctitle=ssh\n", "x")
    assert not auditd.sniff(b"Aug 13 07:36:30 ubuntu sshd[33197]: Failed password for izy\n", "secure")
    assert not auditd.sniff(b'{"ts": 1, "uid": "C1", "id.orig_h": "10.0.0.1"}\n', "conn.log")

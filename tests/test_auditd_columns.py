"""auditd blocks assembled and socket events mapped column-wise give exactly the rows, warnings and counts of the
record-by-record path.

``ingest.auditd_column_events`` picks the path: 0 assembles every record and maps every event one by one (the way of
earlier versions); a positive value assembles blocks of plain raw records column-wise (events counted as unsupported
without records) and gathers socket events to map them column-wise. Both run on every shared auditd sample, on a
simulated fleet log, on hostile records and on interleaved events that test the assembly rule (EOE, the window,
userspace records, events across blocks, the record limit); the digest of every table (rows sorted by line), the
warnings, the unsupported counts and the error that abandons a file must be identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from winnow.schema import get_table
from winnow.sources import AbandonFile, ParseContext, auditd, auditd_blocks, auditd_exec, auditd_files, auditd_logons
from winnow.sources.auditd import Auditd
from winnow.sources.auditd_columns import NetColumns, net_rows
from winnow.sources.auditd_events import MAX_EVENT_RECORDS, WINDOW, Mapper, read_events

HERE = Path(__file__).parent
RECORD_BY_RECORD = 0


def _parse(data: bytes, gather: int, block_size: int = 16 << 20,
           window: int = WINDOW) -> tuple[dict[str, str], list, dict, str | None]:
    ctx = ParseContext("audit.log", auditd_column_events=gather, block_size=block_size, max_consecutive_bad=20)
    parts: dict[str, list[pa.Table]] = {}
    error = None
    try:
        for batch in Auditd(window).parse(io.BytesIO(data), ctx):
            parts.setdefault(batch.table, []).append(batch.data)
    except AbandonFile as exc:
        error = str(exc)
    digests = {name: _digest(name, tables) for name, tables in parts.items()}
    warnings = sorted((w.line or 0, w.reason, w.snippet) for w in ctx.warnings)
    return digests, warnings, dict(ctx.unsupported), error


def _digest(name: str, tables: list[pa.Table]) -> str:
    """A digest of a table's rows whatever their batch: every column (absent -> null), rows sorted."""
    columns = [c.name for c in get_table(name).columns] + ["extra", "_line"]
    rows = []
    for table in tables:
        assert set(table.column_names) <= set(columns), table.column_names
        for row in table.to_pylist():
            rows.append(json.dumps([row.get(c) for c in columns], default=str, ensure_ascii=False))
    rows.sort(key=lambda r: (json.loads(r)[-1], r))
    return f"{len(rows)}:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _same(data: bytes, block_size: int = 16 << 20, gather: int = 1, window: int = WINDOW) -> dict[str, str]:
    got = _parse(data, gather, block_size, window)
    want = _parse(data, RECORD_BY_RECORD, block_size, window)
    assert got == want
    return want[0]


@pytest.fixture
def assembled(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the blocks assembled column-wise and declined (gone record by record)."""
    counts = {"assembled": 0, "declined": 0}

    def counting(*args):
        block = auditd_blocks.assemble(*args)
        counts["declined" if block is None else "assembled"] += 1
        return block

    monkeypatch.setattr(auditd, "assemble", counting)
    return counts


def _counted(monkeypatch: pytest.MonkeyPatch, rows_of) -> dict[str, int]:
    """Counts of the rows a column-wise map of auditd_blocks made and of the events it declined."""
    mapped = {"rows": 0, "declined": 0}

    def counting(*args):
        table, declined = rows_of(*args)
        mapped["rows"] += 0 if table is None else len(table)
        mapped["declined"] += len(declined)
        return table, declined

    monkeypatch.setattr(auditd_blocks, rows_of.__name__, counting)
    return mapped


def _column_wise_share(data: bytes) -> float:
    """Share of the gathered socket events that the column-wise path maps itself."""
    ctx = ParseContext("audit.log")
    gathered = NetColumns(Mapper(ctx, lambda *row: None))
    for event in read_events(io.BytesIO(data), ctx):
        gathered.take(event)
    if not len(gathered):
        return 0.0
    table, declined = net_rows(gathered.parts, gathered.types)
    return (len(gathered) - len(declined)) / len(gathered)


def test_every_shared_sample_gives_the_same_rows(shared_data: Path, assembled: dict[str, int]) -> None:
    root = shared_data / "auditd"
    logs = sorted(root.rglob("*.log")) + sorted((HERE / "data" / "auditd").glob("*.log")) + [HERE / "samples" /
                                                                                            "auditd.log"]
    net = 0
    for path in logs:
        data = path.read_bytes()
        digests = _same(data)
        _same(data, block_size=2048)  # events cut across blocks
        net += int(digests.get("proc.net", "0:").partition(":")[0])
    for path in sorted((root / "go-libaudit-aucoalesce").glob("*.yaml")):  # raw events inside YAML test files
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip().startswith(("type=", "node="))]
        _same(("\n".join(lines) + "\n").encode())
    assert net >= 10
    assert assembled["assembled"] > 50 and assembled["declined"] > 10, assembled


def test_simulated_fleet_log_gives_the_same_rows(tmp_path: Path) -> None:
    from winnow.sim import simulate

    simulate(tmp_path, hosts=40, days=1, seed=5, endpoint_share=1.0)
    data = next(tmp_path.rglob("audit.log")).read_bytes()
    digests = _same(data, block_size=1 << 20, gather=4096)
    assert int(digests["proc.net"].partition(":")[0]) > 10_000
    assert _column_wise_share(data[: 4 << 20].rsplit(b"\n", 1)[0] + b"\n") == 1.0


_SYSCALL = ("arch=c000003e syscall={call} success={ok} exit={exit} a0=3 a1=7ffd a2=10 a3=0 items=0 ppid=1 pid={pid} "
            "auid={auid} uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses={ses} comm={comm} "
            "exe={exe} subj=unconfined key={key}")
_V4 = "02000050C0A80001" + "00" * 8
_V6 = "0A0001BB00000000" + "00000000000000000000FFFF0A000001" + "00000000"
_SADDRS = [_V4, _V6, "01002F746D702F736F636B00", "0100006162737472616374", "10000000", "0000", "0200", "02",
           "zz", "0A000050", "1100000000000000"]
#: values the column-wise path takes (quoted, hex with a space, a quote, a newline or invalid UTF-8, unset)
_PLAIN = ['"curl"', "6375726C20", "612209620A63", "(null)", "?", '""', "", "DEADBEEF", "C3A9E4B8AD", "FF00", "00",
          "610162"]
_TEXT = ['"curl"', "6375726C20", "612209620A63", '"a b"', '"x=y"', '"q"q"', "(null)", "?", '""', "", "DEADBEEF",
         "C3A9E4B8AD", "FF00", '"é"', "a\x01b", "x\x1dARCH=x86_64"]


def _odd(r: random.Random) -> list[str]:
    return _TEXT if r.random() < 0.2 else _PLAIN


def _hostile_records() -> list[str]:
    """Socket events with every odd value a field can take, beside events the column-wise path must decline."""
    r = random.Random(7)
    lines = []
    for i in range(600):
        stamp = f"{1_700_000_000 + i}.{r.choice(['1', '12', '123', '123456'])}:{1000 + i}"
        node = r.choice(["", "node=h1 ", "node= ", "node=h\u00e9 "])
        fields = dict(call=r.choice(["42", "43", "288", "49", "59", "257", "1", "connect", "x42"]),
                      ok=r.choice(["yes", "no", '"yes"']), exit=r.choice(["0", "-115", "-111", "-115(x)", "", "z"]),
                      pid=r.choice(["100", "4294967295", "-1", "12345678901234567890", '"7"', "x"]),
                      auid=r.choice(["1000", "4294967295", "unset"]), ses=r.choice(["3", "4294967295", "(none)"]),
                      comm=r.choice(_odd(r)), exe=r.choice(_odd(r)), key=r.choice(_odd(r) + ['"a\x01b"']))
        body = _SYSCALL.format(**fields)
        k = r.random()
        if k < 0.1:
            body += " pid=999"  # a repeated key: the last wins
        elif k < 0.15:
            body = body.replace("arch=c000003e", "arch=40000003").replace(f"syscall={fields['call']}", "syscall=102")
        elif k < 0.2:
            body += "\x1dARCH=x86_64 SYSCALL=connect UID=\"root\" AUID=\"bob\""
        elif k < 0.25:
            body = body.replace(" ", "  ", 3) + " "
        elif k < 0.3:
            body = body.replace("uid=0", 'uid="r oot"', 1)
        records = [("SYSCALL", body), ("SOCKADDR", "saddr=" + r.choice(_SADDRS))]
        if r.random() < 0.8:
            records.append(("PROCTITLE", "proctitle=" + r.choice(_TEXT + ["6375726C00687474703A2F2F78", '"a"b"'])))
        if r.random() < 0.05:
            records.append(("EOE", ""))
        if r.random() < 0.05:
            records.append(("CWD", 'cwd="/"'))
        r.shuffle(records)
        lines.extend(f"{node}type={kind} msg=audit({stamp}): {rest}".rstrip() for kind, rest in records)
        if r.random() < 0.03:
            lines.append(r.choice(["garbage line", "type=SYSCALL msg=audit(broken", "----",
                                   "type=SOCKADDR msg=audit(11/02/2026 10:00:00.123:77) : saddr={ fam=inet "
                                   "laddr=10.0.0.1 lport=80 }", "type=UNKNOWN[1329] msg=?"]))
    return lines


def test_hostile_records_give_the_same_rows_and_warnings() -> None:
    data = ("\n".join(_hostile_records()) + "\n").encode("utf-8")
    digests = _same(data)
    _same(data, block_size=4096)
    _same(data, gather=7)
    _same(data.replace(b"\n", b"\r\n"))
    assert int(digests["proc.net"].partition(":")[0]) > 100
    assert 0.05 < _column_wise_share(data) < 0.9


def test_a_run_of_bad_lines_abandons_the_file_at_the_same_line() -> None:
    good = _hostile_records()[:300]
    data = ("\n".join(good[:200] + ["not audit"] * 25 + good[200:]) + "\n").encode()
    _same(data)
    _, _, _, error = _parse(data, 1)
    assert error is not None


#: record bodies by kind: exec, socket, open, unmapped and i386 socketcall SYSCALLs and their companions
_BODIES = {
    "SYSCALL": [_SYSCALL.format(call=call, ok="yes", exit="0", pid="42", auid="1000", ses="3", comm='"sh"',
                                exe='"/bin/sh"', key='"k"') for call in ("59", "42", "43", "257", "1", "2", "x")]
    + ["arch=40000003 syscall=102 success=yes exit=0 a0=3 a1=bfff a2=0 a3=0 items=0 ppid=1 pid=7 auid=0 uid=0 "
       "gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"nc\" exe=\"/bin/nc\" key=(null)",
       'arch=c000003e syscall=42 success=yes exit=0 pid=9 uid=0\x1dARCH=x86_64 SYSCALL=connect UID="root"'],
    "SOCKADDR": ["saddr=" + v for v in (_V4, _V6, "01002F746D702F736F636B00", "10000000", "zz")],
    "PROCTITLE": ["proctitle=6375726C00687474703A2F2F78", 'proctitle="sh"'],
    "EXECVE": ['argc=2 a0="ls" a1="-l"', "argc=1 a0=ZZ", 'argc=3 a0="a" a1="b"'],
    "CWD": ['cwd="/tmp"'],
    "PATH": ['item=0 name="/etc/shadow" inode=1 nametype=NORMAL', 'item=1 name="x" nametype=CREATE',
             'item=0 name=(null) nametype=PARENT'],
    "EOE": [""],
    "USER_LOGIN": ["pid=1 uid=0 auid=1000 ses=2 msg='op=login acct=\"bob\" exe=\"/usr/sbin/sshd\" hostname=? "
                   "addr=10.0.0.9 terminal=ssh res=failed'"],
    "CRED_ACQ": ["pid=1 uid=0 msg='op=PAM:setcred acct=\"root\" exe=\"/usr/bin/sudo\" res=success'"],
    "USER_ACCT": ["pid=1 uid=0 msg='op=PAM:accounting acct=\"root\" res=success'"],
    "DAEMON_START": ["op=start ver=3.0 format=raw res=success"],
    "BPRM_FCAPS": ["fver=0 fp=0"],
    "x-y": ["odd=1"],
    "UNKNOWN[1327]": ["a=b"],
}


def _interleaved(seed: int, count: int, keys: int) -> bytes:
    """Records of events keyed by a small pool of (node, time, serial), drawn at random so an event's records lie
    close together or far apart (past the window), with and without EOE, beside userspace records of the same keys."""
    r = random.Random(seed)
    pool = [(r.choice(["", "node=a ", "node=b "]), f"{1_700_000_000 + i}.{r.randrange(1000):03d}:{i}")
            for i in range(keys)]
    kinds = list(_BODIES)
    weights = [8, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    lines = []
    for _ in range(count):
        node, stamp = r.choice(pool[: r.choice([3, 20, keys])])
        kind = r.choices(kinds, weights)[0]
        lines.append(f"{node}type={kind} msg=audit({stamp}): {r.choice(_BODIES[kind])}".rstrip())
    return ("\n".join(lines) + "\n").encode()


def _garbled(data: bytes, seed: int) -> bytes:
    """Some lines given invalid UTF-8, NUL and other control bytes, Unicode spaces in node or kind, CR, or cut short."""
    r = random.Random(seed)
    lines = data.split(b"\n")
    for i in r.sample(range(len(lines) - 1), len(lines) // 50):
        lines[i] = r.choice([
            lines[i] + b" x=\xff\xfe", lines[i].replace(b"=", b"=\x00", 1),
            lines[i].replace(b"type=", b"node=h\xc2\x85x type="), lines[i].replace(b"type=", b"type=A\xe2\x80\xa8"),
            lines[i] + b"\r", lines[i][: len(lines[i]) // 2],
            lines[i].replace(b"msg=audit(", b"msg=audit(99999999999"), b"", b"\x1d" + lines[i]])
    return b"\n".join(lines)


def test_interleaved_events_are_assembled_as_record_by_record(assembled: dict[str, int]) -> None:
    for seed, count, keys, window in ((1, 6000, 400, 100), (2, 6000, 60, 30), (3, 3000, 2000, 2000)):
        data = _interleaved(seed, count, keys)
        for block_size in (1024, 16384, 16 << 20):
            digests = _same(data, block_size=block_size, gather=16, window=window)
        assert sum(int(d.partition(":")[0]) for d in digests.values()) > count // 20
        _same(_garbled(data, seed), block_size=4096, gather=16, window=window)
    assert assembled["assembled"] > 500


def test_an_event_past_the_record_limit_is_warned_about_as_record_by_record(assembled: dict[str, int]) -> None:
    head = "type=SYSCALL msg=audit(1700000000.000:1): " + _BODIES["SYSCALL"][3]
    many = [f"type=PATH msg=audit(1700000000.000:1): item={i} name=\"/f{i}\" nametype=NORMAL"
            for i in range(MAX_EVENT_RECORDS + 5)]
    data = ("\n".join([head, *many, "type=EOE msg=audit(1700000000.000:1): "]) + "\n").encode()
    _same(data, block_size=4096)
    _, warnings, _, _ = _parse(data, 1, 4096)
    assert [w[1] for w in warnings] == [f"event has more than {MAX_EVENT_RECORDS} records; the rest dropped"]
    assert assembled["assembled"] > 0 and assembled["declined"] > 0


def _event_lines(r: random.Random, node: str, stamp: str, records: list[tuple[str, str]]) -> list[str]:
    """One event's records as raw lines, in a random order, half the time closed by an EOE record."""
    r.shuffle(records)
    out = [f"{node}type={kind} msg=audit({stamp}): {rest}" for kind, rest in records]
    return out + [f"{node}type=EOE msg=audit({stamp}): "] if r.random() < 0.5 else out


def _hostile_execs() -> list[str]:
    """Exec events with odd values in every field the column-wise path reads, beside shapes it must decline."""
    r = random.Random(11)
    lines = []
    for i in range(500):
        stamp = f"{1_700_000_000 + i}.{r.choice(['1', '123', '123456'])}:{5000 + i}"
        node = r.choice(["", "node=h1 ", "node= "])
        body = _SYSCALL.format(call=r.choice(["59", "59", "322", "42", "x"]), ok=r.choice(["yes", "yes", "no"]),
                               exit="0", pid=r.choice(["100", "4294967295", "x", '"7"']),
                               auid=r.choice(["1000", "4294967295"]), ses=r.choice(["3", "4294967295", "(none)", "x"]),
                               comm=r.choice(_odd(r)), exe=r.choice(_odd(r) + ['""', "(null)"]),
                               key=r.choice(_odd(r)))
        if r.random() < 0.1:
            body += " ses=9"
        args = r.choice(['argc=2 a0="ls" a1="-l"', 'argc=3 a0="ls" a1="-l"', "argc=2 a0=6C73 a1=2D6C20",
                         "argc=1 a0=ZZ", 'argc=1 a0_len=4 a0[0]="ab" a0[1]="cd"', "argc=0", 'argc=1 a0=""',
                         'argc=2 a0="a b" a1=C3A9FF', 'a0="x"'])
        records = [("SYSCALL", body), ("EXECVE", args)]
        if r.random() < 0.8:
            records.append(("CWD", "cwd=" + r.choice(['"/tmp"', "2F746D7020", "(null)", '""', '"/a b"'])))
        for item in range(r.choice([0, 1, 2])):
            name = r.choice(['"/bin/ls"', "(null)", "2F78"])
            records.append(("PATH", f"item={item} name={name} nametype=NORMAL"))
        if r.random() < 0.7:
            records.append(("PROCTITLE", "proctitle=" + r.choice(["6C73002D6C", '"ls -l"', "6C7300", '"ls"'])))
        if r.random() < 0.05:
            records.append(r.choice([("BPRM_FCAPS", "fver=0"), ("EXECVE", 'argc=1 a0="y"'), ("CWD", 'cwd="/"')]))
        lines.extend(_event_lines(r, node, stamp, records))
    return lines


def _hostile_opens() -> list[str]:
    """Watched file opens with odd PATH items, directories and titles, beside shapes the column-wise path declines."""
    r = random.Random(13)
    lines = []
    for i in range(500):
        stamp = f"{1_700_100_000 + i}.{r.choice(['1', '123', '123456'])}:{9000 + i}"
        node = r.choice(["", "node=h1 "])
        body = _SYSCALL.format(call=r.choice(["257", "2", "85", "437", "59"]), ok=r.choice(["yes", "no"]),
                               exit=r.choice(["3", "-13", "-2(x)"]), pid=r.choice(["100", "x"]),
                               auid=r.choice(["1000", "4294967295"]), ses="3", comm=r.choice(_odd(r)),
                               exe=r.choice(_odd(r)), key=r.choice(_odd(r)))
        records = [("SYSCALL", body)]
        for item in range(r.choice([0, 1, 2, 3])):
            name = r.choice(['"/etc/shadow"', '"rel/x"', '"x"', "(null)", '""', "2F746D702F6120", "612062", '"a b"',
                             "C3A9FF"])
            kind = r.choice(["NORMAL", "CREATE", "PARENT", "UNKNOWN", "DELETE", None, '"NORMAL"'])
            tail = "" if kind is None else f" nametype={kind}"
            extra = r.choice(["", "", " obj=system_u:object_r:shadow_t:s0", " name=\"/x\"", "\x1dOUID=\"root\""])
            records.append(("PATH", f"item={item} name={name} inode=1 dev=08:02{tail}{extra}"))
        if r.random() < 0.8:
            records.append(("CWD", "cwd=" + r.choice(['"/"', '"/home/u/"', '"/tmp"', '""', "(null)", "2F612062"])))
        if r.random() < 0.7:
            records.append(("PROCTITLE", "proctitle=" + r.choice(["636174002F6574632F736861646F77", '"cat"'])))
        if r.random() < 0.05:
            records.append(r.choice([("AVC", "avc: denied { read }"), ("CWD", 'cwd="/"')]))
        lines.extend(_event_lines(r, node, stamp, records))
    return lines


def _hostile_logons() -> list[str]:
    """Userspace logon records with odd fields inside and around ``msg='...'``, beside layouts declined."""
    r = random.Random(17)
    lines = []
    kinds = ["USER_AUTH", "USER_LOGIN", "USER_ERR", "USER_LOGOUT", "USER_START", "USER_END", "CRED_ACQ", "USER_CMD",
             "USER_ACCT", "CRED_DISP"]
    for i in range(800):
        stamp = f"{1_700_200_000 + i // 3}.{r.choice(['1', '123'])}:{12000 + i // 3}"
        node = r.choice(["", "node=h1 "])
        inner = [f"op={r.choice(['PAM:authentication', 'login', 'PAM:session_open', 'pubkey', 'password', '?'])}"]
        if r.random() < 0.8:
            inner.append("acct=" + r.choice(['"root"', '"bob"', "626F62", "(unknown)", '"a b"', "?"]))
        else:
            inner.append("id=" + r.choice(["0", "1000", "4294967295", "x", '"7"']))
        inner.append("exe=" + r.choice(['"/usr/sbin/sshd"', '"/usr/bin/sudo"', '"/usr/sbin/cron"', "2F62696E2F7375",
                                        "(null)"]))
        inner.append("hostname=" + r.choice(["?", "10.0.0.9", "host.example", "::1"]))
        inner.append("addr=" + r.choice(["?", "10.0.0.9", "::1", "fe80::1%eth0", "999.1.1.1", "host"]))
        inner.append("terminal=" + r.choice(["ssh", "/dev/pts/0", "tty1", "cron", "?", "sshd"]))
        if r.random() < 0.3:
            inner.append(f"rport={r.choice(['22', '70000', 'x'])} laddr={r.choice(['10.0.0.1', '?'])} lport=22")
        if r.random() < 0.3:
            inner.append("cwd=" + r.choice(['"/root"', "2F746D70"]) + " cmd=" + r.choice(["6C73202D6C", '"id"']))
        if r.random() < 0.2:
            inner.append("grantors=pam_unix,pam_permit")
        inner.append("res=" + r.choice(["success", "failed", "yes", "no", "1", "0", "odd", "SUCCESS"]))
        msg = " ".join(inner)
        head = (f"pid={r.choice(['100', 'x', '4294967295'])} uid={r.choice(['0', '1000', 'x'])} "
                f"auid={r.choice(['1000', '4294967295', 'unset', '0'])} ses={r.choice(['3', '4294967295', 'x'])}")
        form = r.random()
        if form < 0.1:
            body = f"{head} msg='op=login acct=root : exe=\"/bin/login\" (hostname=?, addr=?, terminal=tty1 res=ok)'"
        elif form < 0.15:
            body = f"{head} msg='{msg}"  # no closing quote
        elif form < 0.2:
            body = f"{head} msg='{msg}'\x1dUID=\"root\" AUID=\"bob\""
        elif form < 0.25:
            body = f"{head} subj=a:b msg='{msg} x=\"q'\"' tail=1"
        elif form < 0.3:
            body = head  # no msg at all
        elif form < 0.35:
            body = f"{head} msg='{msg}' grantors=\"a'\""  # the last quote closes msg=
        else:
            body = f"{head} subj=unconfined msg='{msg}'"
        lines.append(f"{node}type={r.choice(kinds)} msg=audit({stamp}): {body}")
    return lines


@pytest.mark.parametrize(("events", "rows_of", "table", "least_rows", "least_mapped"), [
    (_hostile_execs, auditd_exec.exec_rows, "proc.exec", 150, 50),
    (_hostile_opens, auditd_files.file_rows, "proc.file", 150, 50),
    (_hostile_logons, auditd_logons.logon_rows, "auth.logon", 400, 300),
], ids=["exec", "file-open", "logon"])
def test_hostile_events_give_the_same_rows_and_warnings(monkeypatch: pytest.MonkeyPatch, events, rows_of, table: str,
                                                        least_rows: int, least_mapped: int) -> None:
    """Each column-wise map gives the rows, warnings and errors of record by record, maps some events itself and
    declines others (whole blocks and 2 KB blocks)."""
    mapped = _counted(monkeypatch, rows_of)
    data = ("\n".join(events()) + "\n").encode("utf-8")
    digests = _same(data)
    _same(data, block_size=2048)
    assert int(digests[table].partition(":")[0]) > least_rows
    assert mapped["rows"] > least_mapped and mapped["declined"] > 50, mapped



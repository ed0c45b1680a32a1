"""auth_syslog: sshd / PAM / sudo / su syslog lines -> auth.logon.

Hand-written fixtures in tests/data/auth/ pin each rule (header shapes, the PAM echo rule,
sudo, hostile user names); the loghub OpenSSH and Linux logs (shared data, MANIFEST section 6)
pin real counts, computed here again with plain regular expressions over the raw file.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import REPO

from winnow.ingest import ingest
from winnow.sources import ParseContext, sources
from winnow.sources import auth_syslog as mod
from winnow.sources.auth_syslog import AuthSyslog
from winnow.sources.syslog_header import YearGuess

AUTH = REPO / "tests" / "data" / "auth"
NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)


def parse(data: bytes, now: dt.datetime = NOW) -> tuple[list[dict], ParseContext]:
    """Rows (with ``extra`` as a dict) and the parse context of ``data``."""
    ctx = ParseContext("test.log")
    batches = list(AuthSyslog(now=lambda: now).parse(io.BytesIO(data), ctx))
    assert all(b.table == "auth.logon" for b in batches)
    rows = pa.concat_tables([b.data for b in batches]).to_pylist() if batches else []
    for row in rows:
        row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
    return rows, ctx


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def attempts(rows: list[dict], **where) -> int:
    """Sum of ``attempts`` over the rows matching every ``column=value``."""
    return sum(r["attempts"] for r in rows if all(r[k] == v for k, v in where.items()))


# ---------------------------------------------------------------- headers and years


def test_year_rule() -> None:
    january = dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
    guess = YearGuess(january)
    assert [guess(m) for m in (12, 12, 1, 2)] == [2026, 2026, 2027, 2027]  # December is last year; then rolls over
    assert YearGuess(january)(2) == 2027  # one month ahead: still this year (clock skew)
    assert YearGuess(january)(3) == 2026  # more than one month ahead: last year
    guess = YearGuess(dt.datetime(2026, 11, 29, tzinfo=dt.UTC))
    assert [guess(m) for m in (12, 1, 12, 1)] == [2026, 2027, 2026, 2027]  # a stray line goes back a year


def test_header_shapes_and_sshd_messages() -> None:
    rows, ctx = parse((AUTH / "formats.log").read_bytes())
    assert [(w.line, w.reason) for w in ctx.warnings] == [
        (11, "no such date: Feb 30"),
        (12, "not a syslog line: no time stamp"),
    ]
    assert ctx.unsupported == {"other syslog": 1, "sshd other": 1}
    got = [(r["_line"], r["ts"], r["host"], r["pid"], r["action"], r["outcome"], r["user"], r["src_ip"],
            r["src_port"]) for r in rows]
    assert got == [
        (1, ts("2025-06-01T12:00:00.5"), "gw", 4242, "logon", "success", "ops", "2001:db8::5", 2222),
        (2, ts("2025-06-01T12:00:00"), "gw", None, "disconnect", "unknown", "ops", "2001:db8::5", 2222),
        (3, ts("2025-06-01T12:00:07.123456"), "gw", 4243, "disconnect", "unknown", None, "192.0.2.44", 51515),
        (4, ts("2025-06-01T12:00:08"), "gw", 4244, "disconnect", "unknown", None, "192.0.2.45", 51516),
        (5, ts("2026-06-01T12:00:09"), "gw", 4245, "disconnect", "unknown", None, "192.0.2.46", 51517),
        (6, ts("2026-06-01T12:00:10"), None, 4246, "disconnect", "failure", "pi", "192.0.2.47", 51518),
        (7, ts("2026-06-01T12:00:11"), "gw", 4247, "disconnect", "failure", "pi", "192.0.2.47", 51518),
        (8, ts("2026-06-01T12:00:12"), "gw", 4248, "logon", "success", "ops", "192.0.2.48", 51519),
        (9, ts("2026-06-01T12:00:13"), "gw", 4249, "logon", "failure", "test", None, 51520),
    ]
    by_line = {r["_line"]: r for r in rows}
    assert {r["process"] for r in rows} == {"sshd"} and {r["logon_type"] for r in rows} == {"ssh"}
    assert [by_line[n]["reason"] for n in (2, 3, 4, 5, 6, 7)] == [
        "disconnected", "connection closed", "received disconnect", "no identification string",
        "maximum authentication attempts exceeded", "too many authentication failures",
    ]
    assert by_line[4]["extra"] == {"preauth": True, "code": 11, "message": "Bye Bye"}
    assert (by_line[8]["method"], by_line[8]["extra"]) == ("keyboard-interactive", {"submethod": "pam"})
    assert (by_line[9]["method"], by_line[9]["reason"], by_line[9]["extra"]) == (
        "none", "invalid user", {"rhost": "bad-host.example"})
    assert attempts(rows) == 3  # two Accepted, one Failed; disconnects describe, they do not count


# ---------------------------------------------------------------- counting attempts once


def test_pam_echo_rule_sudo_and_su() -> None:
    rows, ctx = parse((AUTH / "pam_pairing.log").read_bytes(), now=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    assert not ctx.warnings and not ctx.unsupported
    got = [(r["_line"], r["host"], r["action"], r["outcome"], r["user"], r["subject_user"], r["attempts"])
           for r in rows]
    assert got == [
        (1, "bastion", "pam_failure", "failure", "root", None, 0),  # echo of line 2
        (2, "bastion", "logon", "failure", "root", None, 1),
        (3, "bastion", "logon", "failure", "root", None, 1),
        (4, "bastion", "logon", "failure", "root", None, 1),  # "last message repeated 2 times": line 3 again
        (4, "bastion", "logon", "failure", "root", None, 1),
        (5, "bastion", "pam_failure", "failure", "root", None, 0),  # PAM 3 more: already counted
        (6, "bastion", "pam_failure", "failure", "bob", "bob", 0),  # echo of sudo's own line 7 (no pid)
        (7, "bastion", "sudo", "failure", "root", "bob", 3),
        (8, "bastion", "pam_failure", "failure", "carol", "carol", 1),  # sudo then succeeded: a real miss
        (9, "bastion", "sudo", "success", "root", "carol", 1),
        (10, "bastion", "sudo", "failure", "root", "dave", 1),
        (11, "bastion", "pam_failure", "failure", "root", "erin", 1),  # su logs no result of its own
        (12, "bastion", "session_open", "success", "root", "erin", 0),
        (13, "legacy", "pam_failure", "failure", "guest", None, 1),  # old Red Hat: the only record
        (14, "legacy", "pam_failure", "failure", None, None, 1),
        (15, "bastion", "pam_failure", "failure", "root", None, 0),  # unpaired, but this sshd logs its own
    ]
    by_line = {r["_line"]: r for r in rows}
    assert by_line[1]["extra"] == {"tty": "ssh", "counted_on_line": 2}
    assert by_line[4]["extra"] == {"repeated": 2}
    assert by_line[5]["extra"]["more"] == 3
    assert (by_line[7]["command"], by_line[7]["reason"], by_line[7]["logon_type"]) == (
        "/bin/cat /etc/shadow", "3 incorrect password attempts", "sudo")
    assert by_line[7]["extra"] == {"tty": "pts/1", "pwd": "/home/bob"}
    assert by_line[10]["reason"] == "user NOT in sudoers"
    assert (by_line[11]["logon_type"], by_line[12]["logon_type"]) == ("su", "su")
    assert (by_line[13]["src_ip"], by_line[13]["extra"]["rhost"], by_line[14]["src_ip"]) == (
        None, "host.example.net", "198.51.100.20")
    assert (by_line[13]["process"], by_line[13]["logon_type"]) == ("sshd", "ssh")
    assert attempts(rows, outcome="failure") == 12


def test_unpaired_pam_failure_outside_the_window_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod, "PAIR_WINDOW", 3)
    lines = [
        "Jan  5 10:00:00 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
        "ruser= rhost=192.0.2.1  user=root",
        *[f"Jan  5 10:00:0{i} h cron[9]: tick" for i in range(1, 5)],
        "Jan  5 10:00:05 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2",
    ]
    rows, _ = parse(("\n".join(lines) + "\n").encode())
    assert [(r["action"], r["attempts"]) for r in rows] == [("pam_failure", 1), ("logon", 1)]


def test_batches_wait_for_held_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod, "BATCH_ROWS", 2)
    data = (AUTH / "pam_pairing.log").read_bytes()
    ctx = ParseContext("x")
    batches = list(AuthSyslog(now=lambda: NOW).parse(io.BytesIO(data), ctx))
    assert len(batches) > 3
    small, _ = parse(data)
    joined = pa.concat_tables([b.data for b in batches])
    assert joined["_line"].to_pylist() == [r["_line"] for r in small]
    assert joined["attempts"].to_pylist() == [r["attempts"] for r in small]


# ---------------------------------------------------------------- hostile input

REAL = "203.0.113.9"


def test_hostile_user_names_cannot_forge_the_source() -> None:
    head = b"Mar  3 09:15:03 web1 sshd[77]: "
    messages = [
        b"Failed password for invalid user admin from 6.6.6.6 port 1 ssh2 from 203.0.113.9 port 4242 ssh2",
        b"Invalid user admin from 6.6.6.6 port 1 from 203.0.113.9 port 4243",
        b"Invalid user x from 6.6.6.6 from 203.0.113.9",
        b"Invalid user \x1b[31mroot\x1b[0m from 203.0.113.9 port 4244",
        b"Failed password for invalid user \xff\xfe from 203.0.113.9 port 4245 ssh2",
        b"Failed publickey for invalid user z from 6.6.6.6 port 1 ssh2: RSA x from 203.0.113.9 port 4246 ssh2",
        b"Connection closed by invalid user x 6.6.6.6 port 1 203.0.113.9 port 4247 [preauth]",
        b"Disconnected from invalid user a 6.6.6.6 203.0.113.9 port 4248 [preauth]",
        b"Received disconnect from 203.0.113.9 port 4249:11: from 6.6.6.6 port 1 [preauth]",
        b"error: maximum authentication attempts exceeded for invalid user q from 6.6.6.6 port 1 ssh2 from "
        b"203.0.113.9 port 4250 ssh2 [preauth]",
        b"Disconnecting invalid user w 6.6.6.6 port 1: x 203.0.113.9 port 4251: Too many authentication failures "
        b"[preauth]",
        b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  "
        b"user=root rhost=6.6.6.6",
    ]
    data = b"".join(head + m + b"\n" for m in messages * 3)  # 36 in a row: would abandon the file if warned
    rows, ctx = parse(data)
    assert not ctx.warnings and not ctx.unsupported
    assert len(rows) == len(messages) * 3
    assert {r["src_ip"] for r in rows} == {REAL}
    users = [r["user"] for r in rows[: len(messages)]]
    assert users[:6] == [
        "admin from 6.6.6.6 port 1 ssh2", "admin from 6.6.6.6 port 1", "x from 6.6.6.6", "\x1b[31mroot\x1b[0m",
        "\\xff\\xfe", "z from 6.6.6.6 port 1 ssh2: RSA x",
    ]
    assert users[6:8] == ["x 6.6.6.6 port 1", "a 6.6.6.6"]
    assert users[11] == "root rhost=6.6.6.6"
    assert [r["src_port"] for r in rows[: len(messages)]] == [
        4242, 4243, None, 4244, 4245, 4246, 4247, 4248, 4249, 4250, 4251, None]
    assert rows[8]["extra"]["message"] == "from 6.6.6.6 port 1"


def test_huge_repeat_count_is_one_row_and_a_warning() -> None:
    line = b"Mar  3 09:15:03 h sshd[7]: message repeated 999999999 times: [ Failed password for root from " \
           b"203.0.113.9 port 1 ssh2]\n"
    rows, ctx = parse(line)
    assert [(r["attempts"], r["extra"]) for r in rows] == [(999_999_999, {"repeated": 999_999_999})]
    assert len(ctx.warnings) == 1 and "repeat count" in ctx.warnings[0].reason


def test_forged_port_and_pid_out_of_range_do_not_break_the_batch() -> None:
    line = b"Mar  3 09:15:03 h sshd[9999999999]: Failed password for root from 203.0.113.9 port 99999 ssh2\n"
    rows, ctx = parse(line)
    assert not ctx.warnings
    assert [(r["pid"], r["src_port"], r["src_ip"]) for r in rows] == [(9_999_999_999, None, REAL)]


# ---------------------------------------------------------------- sniffing


def test_sniff(zeek_fixtures: Path) -> None:
    source = sources()["auth_syslog"]
    assert source.sniff((AUTH / "pam_pairing.log").read_bytes(), "x.log")
    assert source.sniff((AUTH / "formats.log").read_bytes(), "x.log")
    rfc5424 = b"<38>1 2025-06-01T12:00:00Z gw sshd 1 - - Accepted password for a from 192.0.2.1 port 2 ssh2\n"
    assert source.sniff(rfc5424, "x")
    for fixture in sorted(zeek_fixtures.iterdir()):
        assert not source.sniff(fixture.read_bytes()[:65536], fixture.name), fixture.name
    assert not source.sniff(b'{"ts": 1, "msg": "Dec 10 06:55:46 h sshd[1]: x"}\n', "a.json")
    assert not source.sniff(b"Dec 10 06:55:46 h kernel: eth0 up\nDec 10 06:55:47 h cron[1]: tick\n", "syslog")
    assert not source.sniff(b"garbage\nDec 10 06:55:46 h sshd[1]: Accepted password for a from 1.2.3.4 port 2\n", "x")


# ---------------------------------------------------------------- real logs (loghub, MANIFEST section 6)


def _repeat(line: str) -> int:
    match = re.search(r"message repeated (\d+) times", line)
    return int(match.group(1)) if match else 1


def test_loghub_openssh(shared_data: Path) -> None:
    path = shared_data / "loghub-ssh-linux" / "OpenSSH" / "OpenSSH_2k.log"
    text = path.read_text()
    lines = text.splitlines()
    # the oracle: plain regular expressions over the raw lines
    failed = [(re.search(r"Failed (\S+) for (?:invalid user )?(.*) from (\S+) port", ln), _repeat(ln))
              for ln in lines if "Failed " in ln]
    want_by_ip: Counter = Counter()
    want_users: Counter = Counter()
    for match, times in failed:
        if match.group(1) == "password":
            want_by_ip[match.group(3)] += times
            want_users[match.group(2)] += times
    assert sum(want_by_ip.values()) == 528  # MANIFEST: 518 lines + 2 x "message repeated 5 times"
    pam_lines = sum("pam_unix(sshd:auth): authentication failure" in ln for ln in lines)

    rows, ctx = parse(path.read_bytes())
    assert not ctx.warnings
    assert ctx.unsupported == {"sshd reverse mapping": 85, "sshd other": 256}
    assert len({r["_line"] for r in rows}) + sum(ctx.unsupported.values()) == len(lines) == 2000
    assert attempts(rows, action="logon", method="password", outcome="failure") == 528
    assert attempts(rows, action="logon", method="none", outcome="failure") == 4
    assert attempts(rows, outcome="failure") == 532  # every attempt once: PAM echoes and invalid-user lines add 0
    success = [r for r in rows if r["outcome"] == "success" and r["action"] == "logon"]
    assert [(r["user"], r["src_ip"], r["_line"]) for r in success] == [("fztu", "119.137.62.142", 956)]
    by_ip: Counter = Counter()
    users: Counter = Counter()
    for r in rows:
        if r["action"] == "logon" and r["method"] == "password" and r["outcome"] == "failure":
            by_ip[r["src_ip"]] += r["attempts"]
            users[r["user"]] += r["attempts"]
    assert by_ip == want_by_ip and users == want_users
    assert [by_ip[ip] for ip in ("183.62.140.253", "187.141.143.180", "103.99.0.122", "112.95.230.3")] == [
        286, 80, 46, 26]  # MANIFEST
    assert by_ip.most_common(2) == [("183.62.140.253", 286), ("187.141.143.180", 80)]
    assert users["admin"] == 44 and users["root"] == 378  # 370 lines naming root, two of them x5
    pam = [r for r in rows if r["action"] == "pam_failure"]
    assert len(pam) == pam_lines + 10 == 504 and attempts(pam) == 0  # 494 echoes + 10 "PAM N more"
    invalid = [r for r in rows if r["action"] == "invalid_user"]
    assert len(invalid) == sum(": Invalid user " in ln for ln in lines) == 113 and attempts(invalid) == 0
    assert Counter(r["src_ip"] for r in invalid).most_common(1) == [("103.99.0.122", 35)]  # MANIFEST
    assert sum(r["action"] == "disconnect" for r in rows) == 515
    assert [r["_line"] for r in rows if r["extra"].get("repeated") == 5] == [30] * 5 + [285] * 5
    assert rows[0]["ts"] == ts("2026-12-10T06:55:46") and rows[-1]["ts"] == ts("2026-12-10T11:04:45")
    assert {r["host"] for r in rows} == {"LabSZ"}


def test_loghub_linux_messages(shared_data: Path) -> None:
    path = shared_data / "loghub-ssh-linux" / "Linux" / "Linux_2k.log"
    lines = path.read_text().splitlines()
    want_failures = [ln for ln in lines if re.search(r"sshd\(pam_unix\)\[\d+\]: authentication failure", ln)]
    want_rhosts = Counter(re.search(r"rhost=(\S+)", ln).group(1) for ln in want_failures)  # type: ignore[union-attr]
    want_sessions = Counter(re.search(r"(\w+)\(pam_unix\)\[\d+\]: session (opened|closed)", ln).groups()
                            for ln in lines if re.search(r"\(pam_unix\)\[\d+\]: session", ln))

    rows, ctx = parse(path.read_bytes(), now=dt.datetime(2027, 1, 10, tzinfo=dt.UTC))
    assert not ctx.warnings
    assert len({r["_line"] for r in rows}) + sum(ctx.unsupported.values()) == len(lines) == 2000
    ssh = [r for r in rows if r["action"] == "pam_failure" and r["logon_type"] == "ssh"]
    assert len(ssh) == len(want_failures) == 489  # MANIFEST
    assert attempts(ssh) == 489  # no sshd lines of its own in /var/log/messages: each PAM line is the attempt
    have_rhosts = Counter(r["src_ip"] or r["extra"]["rhost"] for r in ssh)
    assert have_rhosts == want_rhosts
    assert have_rhosts.most_common(3) == [
        ("150.183.249.110", 80), ("n219076184117.netvigator.com", 23), ("207.243.167.114", 23)]  # MANIFEST
    sessions = [r for r in rows if r["action"].startswith("session")]
    have_sessions = Counter((r["process"], r["action"].split("_")[1]) for r in sessions)
    assert have_sessions == {(p, "open" if w == "opened" else "close"): n for (p, w), n in want_sessions.items()}
    assert have_sessions[("su", "open")] == 86 and have_sessions[("sshd", "open")] == 36
    gdm = [r for r in rows if r["process"] == "gdm"]
    assert [(r["action"], r["logon_type"], r["src_ip"], r["attempts"]) for r in gdm] == [
        ("pam_failure", "gdm", None, 1)]
    assert ctx.unsupported["other syslog"] == sum(
        not re.search(r"\w+\(pam_unix\)\[", ln) for ln in lines)  # kernel, ftpd, klogind ...
    # June and July are more than a month ahead of January 2027: last year
    assert rows[0]["ts"] == ts("2026-06-14T15:16:01") and rows[-1]["ts"].month == 7


def test_ingest_openssh_into_the_lake(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "loghub-ssh-linux" / "OpenSSH" / "OpenSSH_2k.log"
    report = ingest([path], tmp_path / "lake").files[0]
    assert (report.status, report.source_format, report.rows, report.warnings) == (
        "ingested", "auth_syslog", {"auth.logon": 1667}, 0)
    assert report.skipped == {"sshd reverse mapping": 85, "sshd other": 256}

"""Linux identity attacks (``linux_auth``): SSH spraying, login after failures, first sudo, credential reads."""

from __future__ import annotations

import pytest
from conftest import engine_params, ingested_lake

from winnow.detections import get_detector
from winnow.engine import Window, connect


def _ssh(ts: str, host: str, pid: int, message: str) -> str:
    return f"{ts}+00:00 {host} sshd[{pid}]: {message}\n"


def _execve(node: str, seconds: int, serial: int, uid: int, exe: str, argv: list[str]) -> str:
    args = " ".join(f'a{i}="{a}"' for i, a in enumerate(argv))
    title = "00".join(a.encode().hex().upper() for a in argv)
    stamp = f"audit({seconds}.000:{serial})"
    return (
        f"node={node} type=SYSCALL msg={stamp}: arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 "
        f"items=2 ppid=900 pid={serial} auid={uid} uid={uid} gid={uid} euid={uid} suid={uid} fsuid={uid} egid={uid} "
        f'sgid={uid} fsgid={uid} tty=pts0 ses=3 comm="{exe.rsplit("/", 1)[-1]}" exe="{exe}" key=(null)\n'
        f"node={node} type=EXECVE msg={stamp}: argc={len(argv)} {args}\n"
        f'node={node} type=CWD msg={stamp}: cwd="/home/dave"\n'
        f"node={node} type=PROCTITLE msg={stamp}: proctitle={title}\n"
        f"node={node} type=EOE msg={stamp}: \n"
    )


def write_linux(folder):
    folder.mkdir(parents=True)
    lines = []
    # history: dave logs on to srv1 every few days
    for day in ("01", "03", "06"):
        lines.append(_ssh(f"2026-11-{day}T08:00:00", "srv1", 100,
                          "Accepted publickey for dave from 10.0.0.9 port 50000 ssh2: RSA SHA256:abc"))
    # a spray: 8 accounts, 2 tries each, from one address
    for i, user in enumerate(("admin", "oracle", "test", "guest", "ubuntu", "pi", "ftp", "postgres")):
        for k in range(2):
            lines.append(_ssh(f"2026-11-06T09:{i:02d}:{10 * k:02d}", "srv1", 200 + i,
                              f"Failed password for invalid user {user} from 203.0.113.7 port {40000 + i} ssh2"))
    # a brute force that works: 12 failures as root, then a success
    for k in range(12):
        lines.append(_ssh(f"2026-11-06T10:00:{k * 2:02d}", "srv1", 300 + k,
                          f"Failed password for root from 198.51.100.4 port {41000 + k} ssh2"))
    lines.append(_ssh("2026-11-06T10:01:00", "srv1", 400,
                      "Accepted password for root from 198.51.100.4 port 41999 ssh2"))
    # dave's first sudo, on day 6
    lines.append("2026-11-06T11:00:00+00:00 srv1 sudo:     dave : TTY=pts/0 ; PWD=/home/dave ; USER=root ; "
                 "COMMAND=/usr/bin/id\n")
    (folder / "auth.log").write_text("".join(lines))
    base = 1793955600  # 2026-11-06T09:00:00Z
    audit = [
        _execve("srv2", base, 7001, 1000, "/usr/bin/cat", ["cat", "/home/dave/.ssh/id_rsa"]),
        _execve("srv2", base + 5, 7002, 1000, "/usr/bin/ssh-keygen",
                ["ssh-keygen", "-y", "-f", "/home/dave/.ssh/id_rsa"]),
        _execve("srv2", base + 9, 7003, 0, "/usr/bin/python3", ["python3", "-c", "print(open('/etc/shadow').read())"]),
    ]
    stamp = f"audit({base + 20}.000:7004)"  # a watch rule's open of /etc/gshadow by perl, denied
    audit.append(
        f"node=srv2 type=SYSCALL msg={stamp}: arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=1 a2=0 "
        f'a3=0 items=1 ppid=900 pid=7004 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 '
        f'sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="perl" exe="/usr/bin/perl" key="creds"\n'
        f'node=srv2 type=CWD msg={stamp}: cwd="/tmp"\n'
        f'node=srv2 type=PATH msg={stamp}: item=0 name="/etc/gshadow" inode=1 dev=08:01 mode=0100640 ouid=0 '
        f"ogid=42 rdev=00:00 nametype=NORMAL\n"
        f"node=srv2 type=EOE msg={stamp}: \n")
    (folder / "audit.log").write_text("".join(audit))


@pytest.fixture(scope="module")
def linux_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "linux-identity", write_linux)


@pytest.fixture(scope="module", params=engine_params())
def found(request, linux_lake):
    with connect(request.param, linux_lake) as engine:
        return get_detector("linux_auth").find(engine, Window())


def _kind(findings, kind):
    return [f for f in findings if f.evidence["kind"] == kind]


def test_spray_is_one_source_many_accounts(found):
    sprays = _kind(found, "spray")
    assert [f.src for f in sprays] == ["203.0.113.7"]  # 12 tries of one account are fumbling's, not a spray
    spray = sprays[0]
    assert spray.evidence["accounts"] == 8 and spray.evidence["failures_per_account"] == 2.0
    assert spray.dst == "srv1" and "as 8 different accounts" in spray.why


def test_login_after_failures(found):
    wins = _kind(found, "login_after_failures")
    assert [(f.src, f.user) for f in wins] == [("198.51.100.4", "root")]
    assert wins[0].evidence["failures_before"] == 12 and wins[0].severity == "high"


def test_first_sudo(found):
    first = _kind(found, "first_privileged")
    assert [f.user for f in first] == ["dave"]
    assert first[0].evidence["days_known"] >= 5 and "for the first time" in first[0].why


def test_credential_reads(found):
    reads = {(f.host, f.evidence["program"]): f for f in _kind(found, "credential_read")}
    assert set(reads) == {("srv2", "cat"), ("srv2", "python3"), ("srv2", "perl")}  # ssh-keygen reads keys by design
    assert reads[("srv2", "perl")].evidence["examples"][0]["table"] == "proc.file"  # the audit watch's denied open
    assert reads[("srv2", "python3")].evidence["file"] == "/etc/shadow"
    assert reads[("srv2", "python3")].score > reads[("srv2", "cat")].score


def test_fumbling_still_reports_the_brute_force(linux_lake):
    """The brute force of one account stays fumbling's retry; linux_auth adds the login that followed."""
    with connect("duckdb", linux_lake) as engine:
        fumbling = get_detector("fumbling").find(engine, Window())
    assert any(f.src == "198.51.100.4" and f.evidence["kind"] == "retry" for f in fumbling)


# -- real data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loghub_lake(shared_data, tmp_path_factory):
    from winnow.ingest import ingest

    lake = tmp_path_factory.mktemp("loghub") / "lake"
    ingest([shared_data / "loghub-ssh-linux", shared_data / "auditd"], lake)
    return lake


def test_real_ssh_sprays(loghub_lake):
    with connect("duckdb", loghub_lake) as engine:
        findings = get_detector("linux_auth").find(engine, Window())
    sprays = {f.src: f for f in _kind(findings, "spray")}
    # OpenSSH_2k: 187.141.143.180 tries 28 names (root, oracle, deploy, git...) in 7 minutes
    assert sprays["187.141.143.180"].evidence["accounts"] == 28
    assert sprays["187.141.143.180"].severity == "medium"
    assert all(f.evidence["accounts"] >= 5 for f in sprays.values())
    # izysec UC014/UC015: `cat /etc/sudoers` under a watch rule (key file_access), once denied
    reads = _kind(findings, "credential_read")
    assert [(f.evidence["program"], f.evidence["file"]) for f in reads] == [("cat", "/etc/sudoers")]

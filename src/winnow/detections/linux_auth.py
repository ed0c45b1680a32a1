"""Linux identity attacks in SSH/auth syslog and auditd: spraying, login after failures, first sudo, credential reads.

Kinds of finding (``evidence.kind``), each from one table (``auth.logon``, ``proc.exec`` or
``proc.file``; no ``net.conn`` needed):

* **spray** -- one source failing to log on as many different accounts on one server (SSH
  password spraying and user-name guessing): scored from the number of accounts
  (``full_users``) and how few tries each got (a spray tries each name a few times). Failures of one
  source on one account, however many, are fumbling's *retry* (``_failures``, shared with this
  module through :func:`~winnow.detections._failures.logon_attempt_rows`) and are not repeated here.
* **login_after_failures** -- a successful login from a source that had failed at least
  ``min_failures`` times on the same server first: a brute force or spray that worked. High.
* **first_privileged** -- a user running sudo / su / pkexec / doas for the first time in the lake's
  history, while the lake has known that user for ``min_history_days`` (``_logon_history``).
* **credential_read** -- a process touching a credential file (``credential_files``: /etc/shadow,
  private SSH keys...) on its command line (``proc.exec``) or as a file path (``proc.file``: an
  auditd watch rule's open, denied ones included, or a Sysmon file event), when the program is not
  one of ``expected_readers`` (passwd, sshd, ssh-keygen...).

Rows of Windows (``event_id`` not null) are left to the Windows detectors.
"""

from __future__ import annotations

import math
import posixpath
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._failures import logon_attempt_rows
from winnow.detections._outcome import as_int
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

EXAMPLES = 10
PRIVILEGE_PROGRAMS = ("sudo", "su", "pkexec", "doas")
#: credential files of the system itself (as opposed to one user's keys)
SYSTEM_CREDENTIALS = ("/etc/shadow", "/etc/gshadow", "/etc/security/opasswd", "/etc/master.passwd")


@register
class LinuxAuth(Detector):
    """Args:
    min_users: accounts one source must fail on (on one server) for a spray finding.
    full_users: accounts at which the breadth sub-score of a spray reaches 1.
    min_failures: failures of a source on a server before a success that make a login-after-failures finding.
    min_history_days: days the lake must have known a user before its first sudo/su counts as new.
    credential_files: path fragments of credential files (matched anywhere in a command line or file path).
    expected_readers: program names (basename) that read credential files by design.
    min_score: findings scoring below this are left out.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "linux_auth"
    description: ClassVar[str] = (
        "Linux logons and privileges: SSH password spraying, a login after many failures, a user's first "
        "sudo/su, credential files read by unexpected programs"
    )
    tables: ClassVar[tuple[str, ...]] = ("auth.logon", "proc.exec", "proc.file")

    def __init__(self, min_users: int = 5, full_users: int = 50, min_failures: int = 10,
                 min_history_days: float = 3.0,
                 credential_files: tuple[str, ...] = ("/etc/shadow", "/etc/gshadow", "/etc/security/opasswd",
                                                      "/etc/master.passwd", "/etc/sudoers", "/.ssh/id_rsa",
                                                      "/.ssh/id_dsa", "/.ssh/id_ecdsa", "/.ssh/id_ed25519"),
                 expected_readers: tuple[str, ...] = ("passwd", "chpasswd", "chage", "gpasswd", "useradd", "usermod",
                                                      "userdel", "groupadd", "groupmod", "unix_chkpwd", "pwck",
                                                      "grpck", "vipw", "vigr", "visudo", "sudo", "su", "login",
                                                      "sshd", "ssh", "ssh-add", "ssh-agent", "ssh-keygen", "scp",
                                                      "sftp", "git", "cron", "crond", "systemd", "dbus-daemon",
                                                      "polkitd", "accounts-daemon", "shadowconfig", "chsh", "chfn",
                                                      "newusers", "dpkg", "rpm", "yum", "dnf", "apt", "apt-get"),
                 min_score: float = 0.4, limit: int = 500) -> None:
        self.min_users = min_users
        self.full_users = full_users
        self.min_failures = min_failures
        self.min_history_days = min_history_days
        self.credential_files = credential_files
        self.expected_readers = expected_readers
        self.min_score = min_score
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        findings: list[Finding] = []
        auth = engine.table("auth.logon", window)
        if auth is not None:
            findings += self._logons(auth)
        findings += self._first_privileged(engine, window)
        findings += self._credential_reads(engine, window)
        findings = [f for f in findings if f.score >= self.min_score]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    # -- SSH spraying and logins after failures ---------------------------------------------
    def _logons(self, auth: ir.Table) -> list[Finding]:
        rows = logon_attempt_rows(auth.filter(auth.event_id.isnull()))
        rows = rows.select("ts", src=rows.src_ip, target=ibis.coalesce(rows.dst_ip, rows.host),
                           user=rows.user.fill_null("?"), failed=as_int(rows.outcome == "failure"))
        pair = ["src", "target"]
        before = ibis.window(group_by=pair, order_by=["ts", ibis.desc("failed")], preceding=None, following=0)
        rows = rows.mutate(failures_so_far=rows.failed.sum().over(before).cast("int64"))
        per_user = rows.group_by([*pair, "user"]).aggregate(
            failures=rows.failed.sum().cast("int64"), attempts=rows.count())
        sprays = per_user.group_by(pair).aggregate(
            users=as_int(per_user.failures > 0).sum().cast("int64"),
            failures=per_user.failures.sum().cast("int64"),
            attempts=per_user.attempts.sum().cast("int64"),
        )
        times = rows.group_by(pair).aggregate(first=rows.ts.min(), last=rows.ts.max())
        sprays = sprays.filter(sprays.users >= self.min_users).join(times, pair)
        wins = rows.filter((rows.failed == 0) & (rows.failures_so_far >= self.min_failures))
        wins = wins.group_by(pair).aggregate(
            success=wins.ts.min(), failures_before=wins.failures_so_far.min(),
            user=wins.user.min(),
        )
        findings = []
        spray_rows = fetch(sprays.order_by(pair)).to_pylist()
        examples = self._spray_examples(per_user, spray_rows)
        for r in spray_rows:
            findings.append(self._spray(r, examples.get((r["src"], r["target"]), [])))
        win_rows = fetch(wins.join(times, pair).order_by(pair)).to_pylist()
        for r in win_rows:
            findings.append(self._login_after(r))
        return findings

    def _spray_examples(self, per_user: ir.Table, sprays: list[dict]) -> dict[tuple, list[str]]:
        if not sprays:
            return {}
        srcs = sorted({r["src"] for r in sprays})
        failed = per_user.filter(per_user.src.isin(srcs) & (per_user.failures > 0))
        ranked = failed.mutate(rank=ibis.row_number().over(ibis.window(
            group_by=["src", "target"], order_by=[ibis.desc("failures"), "user"])))
        out: dict[tuple, list[str]] = {}
        for r in fetch(ranked.filter(ranked.rank < EXAMPLES).order_by(["src", "target", "rank"])).to_pylist():
            out.setdefault((r["src"], r["target"]), []).append(r["user"])
        return out

    def _spray(self, r: dict, users: list[str]) -> Finding:
        n, failures = int(r["users"]), int(r["failures"])
        breadth = min(1.0, math.log1p(n) / math.log1p(self.full_users))
        per_user = failures / n
        lightness = 1.0 / (1.0 + math.log2(max(per_user, 1.0)))  # a spray tries each name a few times
        score = min(1.0, 0.35 + 0.4 * breadth + 0.2 * lightness)
        span = (r["last"] - r["first"]).total_seconds()
        why = (f"{r['src']} failed to log on to {r['target']} as {n} different accounts ({failures} failures, "
               f"{per_user:.1f} per account) over {span / 60:.0f} min; e.g. {', '.join(users[:5])}")
        return Finding(
            detector=self.name, score=score, entity=f"{r['src']}->{r['target']} spray", src=r["src"],
            dst=r["target"], first_seen=r["first"], last_seen=r["last"],
            components={"breadth": breadth, "lightness": lightness},
            evidence={"kind": "spray", "accounts": n, "failures": failures, "attempts": int(r["attempts"]),
                      "failures_per_account": round(per_user, 2), "examples": users},
            why=why,
        )

    def _login_after(self, r: dict) -> Finding:
        failures = int(r["failures_before"])
        volume = min(1.0, math.log1p(failures) / math.log1p(10 * self.min_failures))
        score = min(1.0, 0.75 + 0.2 * volume)
        why = (f"{r['src']} logged on to {r['target']} as {r['user']} at {r['success']:%Y-%m-%d %H:%M:%S} "
               f"after {failures} failed logons from the same source: a guessing attack that worked")
        return Finding(
            detector=self.name, score=score, entity=f"{r['src']}->{r['target']} login after failures", src=r["src"],
            dst=r["target"], user=r["user"], first_seen=r["first"], last_seen=r["success"],
            components={"volume": volume},
            evidence={"kind": "login_after_failures", "failures_before": failures, "user": r["user"],
                      "success": r["success"]},
            why=why,
        )

    # -- first sudo / su --------------------------------------------------------------------
    def _first_privileged(self, engine: Engine, window: Window) -> list[Finding]:
        parts = []
        auth = engine.table("auth.logon", Window())
        if auth is not None:
            lin = auth.filter(auth.event_id.isnull() & auth.host.notnull())
            priv = ((lin.action == "sudo") | ((lin.action == "session_open") & lin.logon_type.isin(("su", "su-l"))))
            caller = ibis.ifelse(lin.action == "sudo", ibis.coalesce(lin.subject_user, lin.user), lin.subject_user)
            parts.append(lin.select("ts", host=lin.host, user=ibis.ifelse(priv, caller, lin.user),
                                    priv=as_int(priv & (lin.outcome == "success")),
                                    what=ibis.ifelse(priv, lin.logon_type.fill_null("sudo") + " "
                                                     + lin.command.fill_null(lin.user.fill_null("")), "")))
        procs = engine.table("proc.exec", Window())
        if procs is not None:
            lin = procs.filter(procs.event_id.isnull() & procs.host.notnull() & (procs.action == "start"))
            name = lin.image.re_extract(r"([^/]+)$", 1)
            priv = name.isin(PRIVILEGE_PROGRAMS)
            user = ibis.ifelse(lin.auid.notnull() & (lin.auid >= 0) & (lin.auid < 4294967295),
                               lin.auid.cast("string"), lin.user)
            parts.append(lin.select("ts", host=lin.host, user=ibis.ifelse(priv, user, lin.user), priv=as_int(priv),
                                    what=ibis.ifelse(priv, lin.command_line.fill_null(lin.image), "")))
        if not parts:
            return []
        rows = ibis.union(*parts, distinct=False)
        rows = rows.filter(rows.user.notnull() & ~rows.user.isin(("root", "0", "?", "")))
        users = rows.group_by("user").aggregate(
            known_since=rows.ts.min(), hosts=rows.host.nunique().cast("int64"))
        privs = rows.filter(rows.priv == 1)
        first = privs.group_by("user").aggregate(first_priv=privs.ts.min(), times=privs.count().cast("int64"))
        new = first.join(users, "user")
        gap = new.first_priv.epoch_seconds() - new.known_since.epoch_seconds()
        new = new.filter(gap >= int(self.min_history_days * 86400))
        if window.since is not None:
            new = new.filter(new.first_priv >= ibis.literal(window.since))
        if window.until is not None:
            new = new.filter(new.first_priv < ibis.literal(window.until))
        detail = privs.join(new.select("user", "first_priv"), "user")
        detail = detail.filter(detail.ts == detail.first_priv).select("user", "host", "what")
        out = new.join(detail, "user")
        findings = []
        seen = set()
        for r in fetch(out.order_by(["user", "host", "what"])).to_pylist():
            if r["user"] in seen:
                continue
            seen.add(r["user"])
            days = (r["first_priv"] - r["known_since"]).total_seconds() / 86400
            newness = min(1.0, days / (3 * self.min_history_days))
            score = min(1.0, 0.45 + 0.2 * newness)
            findings.append(Finding(
                detector=self.name, score=score, entity=f"{r['user']} first privileged", user=r["user"],
                host=r["host"], first_seen=r["first_priv"], last_seen=r["first_priv"],
                components={"newness": newness},
                evidence={"kind": "first_privileged", "command": r["what"], "known_since": r["known_since"],
                          "days_known": round(days, 2), "hosts_seen": int(r["hosts"]),
                          "privileged_runs": int(r["times"])},
                why=(f"{r['user']} ran a privileged command on {r['host']} ({r['what'][:80]}) for the first time; the "
                     f"lake has known {r['user']} for {days:.1f} days without one"),
            ))
        return findings

    # -- credential files -------------------------------------------------------------------
    def _credential_reads(self, engine: Engine, window: Window) -> list[Finding]:
        hits: list[dict] = []
        for table, column in (("proc.exec", "command_line"), ("proc.file", "path")):
            t = engine.table(table, window)
            if t is None:
                continue
            text = t[column]
            match = ibis.or_(*[text.contains(p) for p in self.credential_files])
            rows = t.filter(text.notnull() & match)
            rows = rows.select("ts", "host", "image", "user", "pid", text=text, table=ibis.literal(table))
            hits += fetch(rows.order_by(["ts", "host", "pid"])).to_pylist()
        expected = set(self.expected_readers)
        groups: dict[tuple, list[dict]] = {}
        for r in hits:
            program = _program(r["image"])
            if program in expected or _program(r["text"].split(" ", 1)[0]) in expected:
                continue
            files = sorted({p for p in self.credential_files if p in r["text"]})
            groups.setdefault((r["host"], program, files[0]), []).append({**r, "files": files})
        return [self._credential(key, rows) for key, rows in groups.items()]

    def _credential(self, key: tuple, rows: list[dict]) -> Finding:
        host, program, file = key
        where = host or "an unnamed host"
        system = 1.0 if file in SYSTEM_CREDENTIALS else 0.0
        score = 0.6 + 0.15 * system
        users = sorted({str(r["user"]) for r in rows if r["user"] is not None})
        examples: list[dict[str, Any]] = [{"ts": r["ts"], "table": r["table"], "text": r["text"][:200],
                                           "user": r["user"], "pid": r["pid"]} for r in rows[:EXAMPLES]]
        why = (f"{program} touched {file} on {where} {len(rows)} time{'s' if len(rows) > 1 else ''}"
               f"{' as ' + ', '.join(users[:3]) if users else ''}; {program} is not a program that reads credential "
               f"files by design (e.g. {rows[0]['text'][:80]!r})")
        return Finding(
            detector=self.name, score=score, entity=f"{host or '?'} {program} reads {file}", host=host,
            user=users[0] if users else None, first_seen=rows[0]["ts"], last_seen=rows[-1]["ts"],
            components={"system_file": system},
            evidence={"kind": "credential_read", "program": program, "file": file, "events": len(rows),
                      "examples": examples},
            why=why,
        )


def _program(path: str | None) -> str:
    """The program name of a path (Linux or Windows separators)."""
    return posixpath.basename((path or "").replace("\\", "/")).lower()

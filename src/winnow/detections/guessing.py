"""Password guessing against Windows accounts: spraying (many accounts, few tries each) and brute force.

This detector is the one place for *account-based* guessing: who tried which accounts. Fumbling
(``fumble.py``) counts failed logons per (source, server) like any failed connection and never looks
at the accounts; it finds a retry storm against one server, not the spread over accounts that makes a
spray. Guessing reads ``auth.logon`` alone (no ``net.conn``), Windows Security events only (sshd and
PAM guessing belongs to the Linux detectors).

An *attempt* is a failed 4625 logon, 4771 Kerberos pre-authentication, 4768 TGT request (an unknown
account: 0x6) or 4776 NTLM validation, or an explicit-credential logon 4648 (``runas``, a
``LogonUser`` loop: a 4648 spray tries each account once and the event is written whatever the
outcome). Its *actor* is where it came from: the source address, else the client workstation
(4776 carries no address), else the host it was logged on; for a 4648 it is the subject account on
its host (``alice on WS7``). 4648s written for an interactive logon or an elevation
(winlogon.exe, consent.exe) and those where the account uses its own name are not attempts.

Attempts are counted per actor in windows of ``window_seconds``, on two grids half a window apart,
so that a burst is always whole in one of them:

* **spray** -- ``min_accounts`` or more distinct accounts, at most ``max_mean_tries`` tries per
  account on average (events per account in the engine's test, so that an attempt both a server and a
  DC logged, 4625 + 4776, counts twice there; the finding counts it once). Scored from the number
  of accounts (breadth), how few tries each got (thin) and how fast it went (burst: all within
  ``burst_seconds``).
* **brute force** -- ``min_tries`` or more tries at ONE account in ``brute_seconds``.

The **success that follows** is called out (component ``success``, evidence ``successes``): a
successful logon (4624), TGT (4768) or NTLM validation (4776) from the same actor within
``follow_seconds`` after the first failure, for an account it tried; for a spray also a success for an
account it did not fail on during the burst (the account whose password was right never fails).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._accounts import account, address
from winnow.detections._outcome import as_int
from winnow.detections._slots import best_slot, slot_start, two_grids
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render

#: failed authentication events, and the explicit-credential logon
FAILURE_EVENTS = (4625, 4768, 4771, 4776)
EXPLICIT = 4648
#: successful authentication events that show a guessed password worked
SUCCESS_EVENTS = (4624, 4768, 4776)
#: processes that write a 4648 for an ordinary interactive logon or elevation
ROUTINE_4648 = ("winlogon.exe", "consent.exe")
EXAMPLES = 10
_NAMES = {4625: "4625 failed logons", 4768: "4768 failed TGT requests", 4771: "4771 Kerberos pre-auth failures",
          4776: "4776 NTLM validation failures", 4648: "4648 explicit-credential logons"}


@register
class Guessing(Detector):
    """Args:
    min_accounts: distinct accounts one actor tried in a window that make a spray.
    max_mean_tries: most tries per account on average for a spray (more is guessing each account hard).
    full_accounts: accounts at which the breadth sub-score of a spray reaches 1.
    window_seconds: length of the window accounts are counted in (two grids half a window apart).
    burst_seconds: a spray this short gets the full burst sub-score (tools spray in seconds).
    min_tries: tries at one account within brute_seconds that make a brute force.
    brute_seconds: the window a brute force's tries are counted in.
    full_tries: tries at which the volume sub-score of a brute force reaches 1.
    follow_seconds: how long after the first failure a success of a tried account is called out.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "guessing"
    description: ClassVar[str] = (
        "password spraying (one source, many Windows accounts, few tries each; 4625/4771/4768/4776 failures "
        "and 4648 explicit-credential logons) and brute force (many tries, one account), with the success "
        "that follows"
    )
    tables: ClassVar[tuple[str, ...]] = ("auth.logon",)

    def __init__(self, min_accounts: int = 5, max_mean_tries: float = 3.0, full_accounts: int = 50,
                 window_seconds: int = 3600, burst_seconds: int = 300, min_tries: int = 10,
                 brute_seconds: int = 600, full_tries: int = 200, follow_seconds: int = 3600,
                 limit: int = 500) -> None:
        self.min_accounts = min_accounts
        self.max_mean_tries = max_mean_tries
        self.full_accounts = full_accounts
        self.window_seconds = window_seconds
        self.burst_seconds = burst_seconds
        self.min_tries = min_tries
        self.brute_seconds = brute_seconds
        self.full_tries = full_tries
        self.follow_seconds = follow_seconds
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        auth = engine.table("auth.logon", window)
        if auth is None or "event_id" not in auth.columns:
            return []
        tries = attempts(auth)
        sprays = fetch(self.sprays(tries)).to_pylist()
        brutes = fetch(self.brute_forces(tries)).to_pylist()
        if not sprays and not brutes:
            return []
        actors = sorted({r["actor"] for r in sprays} | {r["actor"] for r in brutes})
        rows = fetch(tries.filter(tries.actor.isin(actors)).order_by(["actor", "ts", "account"])).to_pylist()
        wins = fetch(successes(auth).filter(lambda t: t.actor.isin(actors)).order_by(["actor", "ts"])).to_pylist()
        by_actor: dict[str, list[dict]] = {}
        for r in rows:
            by_actor.setdefault(r["actor"], []).append(r)
        ok_by_actor: dict[str, list[dict]] = {}
        for r in wins:
            ok_by_actor.setdefault(r["actor"], []).append(r)
        alias = _aliases(rows)
        spray_actors = {s["actor"] for s in sprays}
        brute_keys = {(b["actor"], b["account"]) for b in brutes}

        def merged(actor: str, by: dict[str, list[dict]]) -> list[dict]:
            extra = [r for name, a in alias.items() if a == actor for r in by.get(name, [])]
            return sorted(by.get(actor, []) + extra, key=lambda r: (r["ts"], r["account"], r["event_id"]))

        findings = [self._spray(s, merged(s["actor"], by_actor), merged(s["actor"], ok_by_actor))
                    for s in sprays if alias.get(s["actor"]) not in spray_actors]
        findings += [self._brute(b, merged(b["actor"], by_actor), merged(b["actor"], ok_by_actor))
                     for b in brutes if (alias.get(b["actor"]), b["account"]) not in brute_keys]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    # -- engine side ----------------------------------------------------------------------
    def sprays(self, tries: ir.Table) -> ir.Table:
        """Per actor, its window with the most distinct accounts, when it makes a spray."""
        g = two_grids(tries, self.window_seconds)
        per = g.group_by(["actor", "grid", "slot", "account"]).aggregate(n=g.count())
        win = per.group_by(["actor", "grid", "slot"]).aggregate(
            accounts=per.count().cast("int64"), tries=per.n.sum().cast("int64"), most=per.n.max().cast("int64"))
        win = win.filter((win.accounts >= self.min_accounts)
                         & (win.tries <= win.accounts * self.max_mean_tries))
        return best_slot(win, ["actor"], [ibis.desc("accounts"), "tries"])

    def brute_forces(self, tries: ir.Table) -> ir.Table:
        """Per (actor, account), its window with the most tries, when they make a brute force."""
        g = two_grids(tries.filter(tries.failed == 1), self.brute_seconds)
        win = g.group_by(["actor", "account", "grid", "slot"]).aggregate(tries=g.count().cast("int64"))
        win = win.filter(win.tries >= self.min_tries)
        return best_slot(win, ["actor", "account"], [ibis.desc("tries")])

    # -- findings -------------------------------------------------------------------------
    def _spray(self, s: dict, rows: list[dict], wins: list[dict]) -> Finding:
        start = slot_start(s["grid"], s["slot"], self.window_seconds)
        end = start + dt.timedelta(seconds=self.window_seconds)
        mine = [r for r in rows if start <= r["ts"] < end]
        first, last = mine[0]["ts"], mine[-1]["ts"]
        per_account = _tries_per_account(mine)
        accounts, tries = len(per_account), sum(per_account.values())
        tried = set(per_account)
        follow = last + dt.timedelta(seconds=self.follow_seconds)
        grace = last + dt.timedelta(seconds=60)
        hits = [w for w in wins if first <= w["ts"] <= (follow if w["account"] in tried else grace)]
        breadth = min(1.0, math.log1p(accounts) / math.log1p(self.full_accounts))
        thin = min(1.0, accounts / tries)
        span = (last - first).total_seconds()
        burst = 1.0 if span <= self.burst_seconds else self.burst_seconds / span
        success = 1.0 if hits else 0.0
        score = min(1.0, 0.45 + 0.35 * breadth + 0.1 * thin + 0.1 * burst + 0.1 * success)
        kinds = Counter(r["event_id"] for r in mine)
        explicit = kinds.get(EXPLICIT, 0) == tries
        shown = [a for a, _ in per_account.most_common(EXAMPLES)]
        evidence: dict[str, Any] = {
            "kind": "spray", "actor": s["actor"], "actor_kind": mine[0]["actor_kind"], "accounts": accounts,
            "tries": tries, "most_tries_per_account": max(per_account.values()),
            "events": {str(k): v for k, v in sorted(kinds.items())}, "examples": shown,
            "hosts": sorted({r["host"] for r in mine if r["host"]})[:EXAMPLES],
            "successes": _successes(hits),
        }
        how = ", ".join(f"{n} {_NAMES[k]}" for k, n in sorted(kinds.items()))
        verb = "used explicit credentials of" if explicit else "tried"
        why = (f"{s['actor']} {verb} {accounts} accounts {tries / accounts:.1f} times each on average over "
               f"{render.duration(span)} ({how}); e.g. {', '.join(shown[:4])}" + _then(hits))
        return Finding(
            detector=self.name, score=score, entity=f"{s['actor']} spray", src=_src(mine[0]),
            host=mine[0]["host"], user=hits[0]["account"] if hits else None, first_seen=first, last_seen=last,
            components={"breadth": breadth, "thin": thin, "burst": burst, "success": success},
            evidence=evidence, why=why,
        )

    def _brute(self, b: dict, rows: list[dict], wins: list[dict]) -> Finding:
        mine = [r for r in rows if r["account"] == b["account"] and r["failed"]]
        first, last = mine[0]["ts"], mine[-1]["ts"]
        tries = int(b["tries"])
        failures = _tries_per_account(mine)[b["account"]]
        follow = first + dt.timedelta(seconds=self.follow_seconds)
        hits = [w for w in wins if w["account"] == b["account"] and first <= w["ts"] <= max(follow, last)]
        volume = min(1.0, math.log1p(tries) / math.log1p(self.full_tries))
        rate = min(1.0, tries / max(self.min_tries, 1) / 2)
        success = 1.0 if hits else 0.0
        score = min(1.0, 0.4 + 0.3 * volume + 0.15 * rate + 0.15 * success)
        kinds = Counter(r["event_id"] for r in mine)
        how = ", ".join(f"{n} {_NAMES[k]}" for k, n in sorted(kinds.items()))
        evidence: dict[str, Any] = {
            "kind": "brute_force", "actor": b["actor"], "actor_kind": mine[0]["actor_kind"],
            "account": b["account"], "tries_in_window": tries, "failures": failures,
            "events": {str(k): v for k, v in sorted(kinds.items())},
            "hosts": sorted({r["host"] for r in mine if r["host"]})[:EXAMPLES], "successes": _successes(hits),
        }
        why = (f"{b['actor']} failed {failures} times to log on as {b['account']} over "
               f"{render.duration((last - first).total_seconds())} ({tries} within "
               f"{render.duration(self.brute_seconds)}; {how})" + _then(hits))
        return Finding(
            detector=self.name, score=score, entity=f"{b['actor']}->{b['account']} brute force", src=_src(mine[0]),
            host=mine[0]["host"], user=b["account"], first_seen=first, last_seen=last,
            components={"volume": volume, "rate": rate, "success": success}, evidence=evidence, why=why,
        )


def _actor(auth: ir.Table) -> tuple[ir.StringValue, ir.StringValue]:
    """Where an attempt came from, and what kind of name that is (address, workstation, host, account)."""
    src = address(auth.src_ip)
    station = ibis.ifelse(auth.workstation.isin(("-", "")), ibis.null("string"), auth.workstation.upper())
    who = account(auth.subject_user) + " on " + auth.host.fill_null("?")
    explicit = auth.event_id == EXPLICIT
    actor = ibis.ifelse(explicit, who, ibis.coalesce(src, station, auth.host))
    kind = ibis.cases((explicit, "account"), (src.notnull(), "address"), (station.notnull(), "workstation"),
                      else_="host")
    return actor, kind


def attempts(auth: ir.Table) -> ir.Table:
    """Guessing attempts (see the module docstring): ts, actor, actor_kind, account, station, event_id, failed,
    host, src_ip."""
    rows = auth.filter(auth.event_id.isin((*FAILURE_EVENTS, EXPLICIT)))
    user, subject = account(rows.user), account(rows.subject_user)
    process = rows.process.lower().fill_null("")
    routine = ibis.literal(False)
    for name in ROUTINE_4648:
        routine = routine | process.endswith(name)
    failed = rows.event_id.isin(FAILURE_EVENTS) & (rows.outcome == "failure")
    explicit = (rows.event_id == EXPLICIT) & subject.notnull() & (user != subject) & ~routine
    actor, kind = _actor(rows)
    station = ibis.ifelse(rows.workstation.isin(("-", "")), ibis.null("string"), rows.workstation.upper())
    out = rows.select("ts", "event_id", "host", "src_ip", actor=actor, actor_kind=kind, account=user, station=station,
                      failed=as_int(failed), keep=(failed | explicit).fill_null(False))
    out = out.filter(out.keep & out.account.notnull() & out.actor.notnull())
    return out.drop("keep")


def successes(auth: ir.Table) -> ir.Table:
    """Successful logons, TGTs and NTLM validations: ts, actor, account, event_id, host."""
    rows = auth.filter(auth.event_id.isin(SUCCESS_EVENTS) & (auth.outcome == "success"))
    actor, _ = _actor(rows)
    out = rows.select("ts", "event_id", "host", actor=actor, account=account(rows.user))
    return out.filter(out.account.notnull() & ~out.account.endswith("$") & out.actor.notnull())


def _tries_per_account(rows: list[dict]) -> Counter:
    """Tries per account, one failed attempt counted once though a DC and a server each log it (4625 + 4776)."""
    by_kind = Counter((r["account"], r["event_id"]) for r in rows)
    out: Counter = Counter()
    for (name, _), n in by_kind.items():
        out[name] = max(out[name], n)
    return out


def _aliases(rows: list[dict]) -> dict[str, str]:
    """Workstation actors (4776 names the client, not its address) that are an address actor seen with that name.

    A failed network logon is logged twice: 4625 on the server (address and workstation name) and 4776
    at the DC (workstation name only); the two actors are one attacker, reported once under its address.
    """
    out: dict[str, str] = {}
    for r in rows:
        if r["actor_kind"] == "address" and r["station"]:
            out.setdefault(r["station"], r["actor"])
    return out


def _src(row: dict) -> str | None:
    return row["src_ip"] if row["actor_kind"] == "address" else None


def _successes(hits: list[dict]) -> list[dict]:
    return [{"account": h["account"], "event_id": int(h["event_id"]), "ts": h["ts"], "host": h["host"]}
            for h in hits[:EXAMPLES]]


def _then(hits: list[dict]) -> str:
    if not hits:
        return ""
    h = hits[0]
    more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
    return (f"; then {h['account']} succeeded ({h['event_id']}) from the same source at "
            f"{h['ts']:%Y-%m-%d %H:%M:%S}{more}")

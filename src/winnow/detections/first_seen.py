r"""First-seen and rare: behaviour new to the fleet after a learning period, stacked by how few hosts show it.

Least-frequency analysis is the hunter's oldest tool: the program, parent → child pair or command line
that one workstation in ten thousand runs is worth a look; what every host does is not. This detector
stacks such *items* across the fleet and keeps their history in the lake
(``<lake>/_derived/first_seen/history.parquet``: kind, item, first and last sighting, most hosts), so
"new" means new since the lake began, not since the window began. Kinds (``kinds``):

* ``image``: a process image, user-profile folders and version numbers masked
  (``c:\users\<user>\appdata\local\app\<v>\app.exe``) — ``proc.exec``;
* ``parent_child``: parent → child image names (``winword.exe → powershell.exe``) — ``proc.exec``;
* ``command``: a command line's shape, arguments masked (quoted strings, paths, GUIDs, numbers,
  base64 runs) — ``proc.exec``;
* ``service``: the program a newly installed service runs (4697/7045) — ``win.service``;
* ``task``: the command of a newly registered scheduled task (4698) — ``win.task``;
* ``logon_type``: a user who logged on before logging on with a logon type never seen for that user
  (successes; an account's very first logon is not one) —
  ``auth.logon``.

(JA3 fingerprints and user agents per host are ``rare_dest``'s.) An item is reported when it was first
seen after the **learning period** (``learning_days`` from the first data of its table, in the lake or
its history: what exists from the start is the baseline) and on at most ``max_hosts`` hosts. The score
of an item is the kind's weight (``<kind>_weight``) times its rarity, ``1 - ln(hosts) / ln(fleet)`` (1 on one
host), times the fleet's confidence, ``ln(fleet) / ln(min_fleet)`` up to 1 (in a fleet of 16 hosts
everything is on "one host"). All new items of a host make **one finding**: its strongest item's score
plus ``more_weight`` per further item (at most ``more_cap``), each kind's best as a component, the items
as evidence. The history is merged after every run (first sighting = the earliest ever), so
re-running a window changes neither the history nor the findings.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import ibis.expr.types as ir
import pyarrow as pa

from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

#: kind -> (table, entity column, what it is)
KINDS: dict[str, tuple[str, str, str]] = {
    "image": ("proc.exec", "host", "a program"),
    "parent_child": ("proc.exec", "host", "a parent → child pair"),
    "command": ("proc.exec", "host", "a command-line shape"),
    "service": ("win.service", "host", "a service program"),
    "task": ("win.task", "host", "a scheduled task command"),
    "logon_type": ("auth.logon", "host", "a logon type for this user"),
}

_HISTORY = pa.schema([("kind", pa.string()), ("item", pa.string()), ("first_seen", pa.timestamp("us", tz="UTC")),
                      ("last_seen", pa.timestamp("us", tz="UTC")), ("hosts", pa.int64())])


@register
class FirstSeen(Detector):
    """Args:
    kinds: kinds of items stacked (image, parent_child, command, service, task, logon_type).
    learning_days: days from the first data of a table during which every item is baseline, never reported.
    max_hosts: items on more hosts than this are not reported.
    image_weight: score of a new program on a single host of a large fleet.
    parent_child_weight: score of a new parent → child pair on a single host.
    command_weight: score of a new command-line shape on a single host.
    service_weight: score of a new service program on a single host.
    task_weight: score of a new scheduled-task command on a single host.
    logon_type_weight: score of a user's new logon type on a single host.
    min_fleet: hosts a table must cover before "on one host" counts whole (fewer: scores scaled by
        ln(fleet) / ln(min_fleet)).
    more_weight: added to a host's strongest new item for each further new item.
    more_cap: most the further items add.
    examples: example rows kept as evidence per finding.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "first_seen"
    description: ClassVar[str] = (
        "programs, parent → child pairs, command shapes, services, tasks and logon types new to the fleet after a "
        "learning period, ranked by rarity (history kept in the lake)"
    )
    tables: ClassVar[tuple[str, ...]] = ("proc.exec", "win.service", "win.task", "auth.logon")

    def __init__(self, kinds: tuple[str, ...] = tuple(KINDS), learning_days: float = 2.0, max_hosts: int = 3,
                 image_weight: float = 0.65, parent_child_weight: float = 0.75, command_weight: float = 0.55,
                 service_weight: float = 0.75, task_weight: float = 0.75, logon_type_weight: float = 0.6,
                 min_fleet: int = 50, more_weight: float = 0.02,
                 more_cap: float = 0.1, examples: int = 3, limit: int = 500) -> None:
        self.kinds = kinds
        self.learning_days = learning_days
        self.max_hosts = max_hosts
        self.image_weight = image_weight
        self.parent_child_weight = parent_child_weight
        self.command_weight = command_weight
        self.service_weight = service_weight
        self.task_weight = task_weight
        self.logon_type_weight = logon_type_weight
        self.min_fleet = min_fleet
        self.more_weight = more_weight
        self.more_cap = more_cap
        self.examples = examples
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        history = _read(engine.lake.root)
        merged = {(r["kind"], r["item"]): r for r in history}
        per_host: dict[str, list[dict]] = defaultdict(list)
        for kind in self.kinds:
            if kind not in KINDS:
                continue
            table = engine.table(KINDS[kind][0], window)
            if table is None:
                continue
            items = _items(kind, table)
            if items is None:
                continue
            stats = fetch(items.group_by("item").aggregate(
                first_seen=items.ts.min(), last_seen=items.ts.max(), hosts=items.who.nunique(),
                events=items.count())).to_pylist()
            fleet = fetch(items.aggregate(n=items.who.nunique(), start=items.ts.min())).to_pylist()[0]
            kind_start = min([fleet["start"]] + [r["first_seen"] for r in history if r["kind"] == kind
                                                  and r["first_seen"] is not None])
            for r in stats:
                old = merged.get((kind, r["item"]))
                first = min(r["first_seen"], old["first_seen"]) if old and old["first_seen"] else r["first_seen"]
                merged[(kind, r["item"])] = {
                    "kind": kind, "item": r["item"], "first_seen": first,
                    "last_seen": max(r["last_seen"], old["last_seen"]) if old and old["last_seen"] else r["last_seen"],
                    "hosts": max(int(r["hosts"]), int(old["hosts"]) if old else 0)}
            learned = kind_start + dt.timedelta(days=self.learning_days) if kind_start else None
            new = [r for r in stats if learned is not None and merged[(kind, r["item"])]["first_seen"] >= learned
                   and merged[(kind, r["item"])]["hosts"] <= self.max_hosts]
            if kind == "logon_type":  # a known user's new way in; an account's very first logon is accounts' business
                since = _first_logons(merged)
                new = [r for r in new if since[_user(r["item"])] < merged[(kind, r["item"])]["first_seen"]]
            if new:
                for item in self._items_of(kind, items, new, int(fleet["n"]), merged):
                    for host in item["hosts"] or ["?"]:
                        per_host[host].append(item)
        _write(engine.lake.root, list(merged.values()))
        findings = [self._host_finding(host, items) for host, items in per_host.items()]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _items_of(self, kind: str, items: ir.Table, new: list[dict], fleet: int, merged: dict) -> list[dict]:
        """The new items of ``kind`` with their hosts, score parts and a few example rows."""
        names = [r["item"] for r in new]
        rows = fetch(items.filter(items.item.isin(names)).select("item", "who", "ts", "detail")
                     .order_by(["item", "ts"])).to_pylist()
        by_item: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_item[row["item"]].append(row)
        weight = float(getattr(self, f"{kind}_weight"))
        confidence = min(1.0, math.log(max(fleet, 2)) / math.log(max(self.min_fleet, 3)))
        out = []
        for r in new:
            seen = by_item.get(r["item"], [])
            history = merged[(kind, r["item"])]
            spread = history["hosts"]
            rarity = 1.0 if spread <= 1 else max(0.0, 1 - math.log(spread) / math.log(max(fleet, 3)))
            out.append({"kind": kind, "item": r["item"], "hosts": sorted({s["who"] for s in seen if s["who"]}),
                        "spread": spread, "fleet": fleet, "first_seen": history["first_seen"],
                        "last_seen": r["last_seen"], "events": int(r["events"]),
                        "score": weight * rarity * confidence, "weight": weight, "rarity": rarity,
                        "confidence": confidence,
                        "examples": [{"ts": x["ts"], "detail": (x["detail"] or "")[:300]}
                                     for x in seen[:self.examples]]})
        return out

    def _host_finding(self, host: str, items: list[dict]) -> Finding:
        """One finding per host: its new items, the strongest first; more items add a little."""
        items.sort(key=lambda i: (-i["score"], i["kind"], i["item"]))
        top = items[0]
        more = min(self.more_cap, self.more_weight * (len(items) - 1))
        score = min(1.0, top["score"] + more)
        kinds = defaultdict(float)
        for i in items:
            kinds[i["kind"]] = max(kinds[i["kind"]], round(i["score"], 6))
        shown = "; ".join(f"{KINDS[i['kind']][2]} {i['item'][:80]}" for i in items[:3])
        why = (f"{len(items)} thing{'s' if len(items) > 1 else ''} new to the fleet on {host} after the learning "
               f"period: {shown}" + (f" and {len(items) - 3} more" if len(items) > 3 else "")
               + f" (the first on {top['spread']} of {top['fleet']} hosts"
               + (f"; a fleet of {top['fleet']} hosts says little about rarity" if top["confidence"] < 1 else "")
               + ")")
        evidence = {"items": [{k: i[k] for k in ("kind", "item", "spread", "fleet", "first_seen", "events",
                                                 "score", "examples")} for i in items[:20]],
                    "new_items": len(items), "kinds": sorted(kinds)}
        return Finding(
            detector=self.name, score=round(score, 6), entity=f"{host}: first seen", host=host,
            first_seen=min(i["first_seen"] for i in items), last_seen=max(i["last_seen"] for i in items),
            components={**{f"{k}": v for k, v in kinds.items()}, "more": round(more, 6)}, evidence=evidence, why=why)


def _base(path: ir.StringValue) -> ir.StringValue:
    return path.lower().re_replace(r"^.*[\\/]", "")


def _user(item: str) -> str:
    return item.rsplit(" type ", 1)[0]


def _first_logons(merged: dict) -> dict[str, dt.datetime]:
    """Each user's first logon of any type (from the ``logon_type`` items)."""
    first: dict[str, dt.datetime] = {}
    for (kind, item), r in merged.items():
        if kind == "logon_type" and r["first_seen"] is not None:
            user = _user(item)
            first[user] = min(first.get(user, r["first_seen"]), r["first_seen"])
    return first


def _items(kind: str, t: ir.Table) -> ir.Table | None:
    """Rows of ``t`` as (ts, who, item, detail) for ``kind``; None when the table lacks what it needs."""
    cols = set(t.columns)
    if kind in ("image", "parent_child", "command") and "image" in cols:
        rows = t.filter(t.image.notnull() & ((t.action == "start") | t.action.isnull()) if "action" in cols
                        else t.image.notnull())
        image = rows.image.lower().re_replace(r"\\users\\[^\\]+\\", r"\\users\\<user>\\") \
            .re_replace(r"[0-9]+(\.[0-9]+){1,}", "<v>")
        if kind == "image":
            item = image
        elif kind == "parent_child":
            rows = rows.filter(rows.parent_image.notnull() & ~rows.parent_image.isin(["?", "-", ""]))
            item = _base(rows.parent_image) + " → " + _base(rows.image)
        else:
            rows = rows.filter(rows.command_line.notnull())
            item = _base(rows.image) + " " + _shape(rows.command_line)
        detail = rows.command_line if "command_line" in cols else rows.image
        return rows.select(ts=rows.ts, who=rows.host.fill_null("?"), item=item, detail=detail)
    if kind == "service" and "image_path" in cols:
        rows = t.filter(t.image_path.notnull())
        return rows.select(ts=rows.ts, who=rows.host.fill_null("?"), item=_shape(rows.image_path),
                           detail=rows.service_name.fill_null("") + ": " + rows.image_path)
    if kind == "task" and "command" in cols:
        rows = t.filter(t.command.notnull() & (t.event_id == 4698))
        return rows.select(ts=rows.ts, who=rows.host.fill_null("?"), item=_shape(rows.command),
                           detail=rows.task_name.fill_null("") + ": " + rows.command)
    if kind == "logon_type" and "logon_type" in cols:
        rows = t.filter(t.user.notnull() & t.logon_type.notnull() & (t.outcome == "success"))
        return rows.select(ts=rows.ts, who=rows.host.fill_null("?"),
                           item=rows.user.lower() + " type " + rows.logon_type,
                           detail=rows.src_ip.fill_null("") + " -> " + rows.host.fill_null(""))
    return None


def _shape(text: ir.StringValue) -> ir.StringValue:
    """A command line with its arguments masked: the same command with other files or ids is the same shape."""
    return (text.lower()
            .re_replace(r'"[^"]*"', "<s>")
            .re_replace(r"[a-z]:\\[^ ]*", "<path>")
            .re_replace(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?", "<guid>")
            .re_replace(r"[a-z0-9+/=]{40,}", "<blob>")
            .re_replace(r"[0-9]+", "<n>")
            .re_replace(r"\s+", " ")
            .strip())


def _path(root: Path) -> Path:
    return root / "_derived" / "first_seen" / "history.parquet"


def _read(root: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    path = _path(root)
    return pq.read_table(path).to_pylist() if path.exists() else []


def _write(root: Path, rows: list[dict[str, Any]]) -> None:
    """Replace the history atomically (a killed run leaves the old one)."""
    import os

    import pyarrow.parquet as pq

    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=_HISTORY), tmp)
    os.replace(tmp, path)


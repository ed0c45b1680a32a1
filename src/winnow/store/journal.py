"""Hunt journals: each hunt a document (hypothesis, queries run, findings linked, notes, outcome), and the
saved queries of the workbench's SQL console.

Hunts and saved queries live in ``<lake>/hunts.duckdb`` (beside ``findings.duckdb``, so writing a
note never looks like a change of the findings to the risk cache); every write is one transaction.
A hunt exports to Markdown with :func:`to_markdown`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from winnow.engine import DatabaseFile
from winnow.errors import WinnowError

FILE_NAME = "hunts.duckdb"
ENTRY_KINDS = ("query", "finding", "note")
OUTCOMES = ("open", "confirmed", "refuted", "inconclusive")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hunts (
    hunt_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, hypothesis VARCHAR NOT NULL, analyst VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL, conclusion VARCHAR, created_at VARCHAR NOT NULL, updated_at VARCHAR NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS hunt_entry_order;
CREATE TABLE IF NOT EXISTS hunt_entries (
    seq BIGINT DEFAULT nextval('hunt_entry_order'), entry_id VARCHAR PRIMARY KEY, hunt_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, body VARCHAR NOT NULL, analyst VARCHAR NOT NULL, created_at VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS saved_queries (
    name VARCHAR PRIMARY KEY, sql VARCHAR NOT NULL, analyst VARCHAR NOT NULL, saved_at VARCHAR NOT NULL
);
"""
_HUNT = ("hunt_id", "title", "hypothesis", "analyst", "outcome", "conclusion", "created_at", "updated_at")
_ENTRY = ("entry_id", "hunt_id", "kind", "body", "analyst", "created_at")
_SAVED = ("name", "sql", "analyst", "saved_at")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Journal(DatabaseFile):
    """``with Journal(lake_root) as journal: journal.start(...)``."""

    FILE_NAME = FILE_NAME
    SCHEMA = _SCHEMA

    def _write(self, statements: list[tuple[str, list[Any]]]) -> None:
        self.db.execute("BEGIN TRANSACTION")
        try:
            for sql, args in statements:
                self.db.execute(sql, args)
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    def start(self, title: str, hypothesis: str, analyst: str) -> str:
        """A new open hunt; returns its id."""
        if not title.strip() or not hypothesis.strip():
            raise WinnowError("a hunt needs a title and a hypothesis")
        hunt_id, now = uuid.uuid4().hex[:12], _now()
        self._write([(f"INSERT INTO hunts ({', '.join(_HUNT)}) VALUES ({', '.join('?' * len(_HUNT))})",
                      [hunt_id, title.strip(), hypothesis.strip(), analyst, "open", None, now, now])])
        return hunt_id

    def add(self, hunt_id: str, kind: str, body: str, analyst: str) -> str:
        """Add a query run, a linked finding (``DETECTOR:ENTITY``) or a note; returns the entry's id."""
        if kind not in ENTRY_KINDS:
            raise WinnowError(f"journal entry {kind!r}: one of {', '.join(ENTRY_KINDS)}")
        if not body.strip():
            raise WinnowError("an empty journal entry says nothing")
        self.hunt(hunt_id)
        entry_id, now = uuid.uuid4().hex[:12], _now()
        self._write([(f"INSERT INTO hunt_entries ({', '.join(_ENTRY)}) VALUES ({', '.join('?' * len(_ENTRY))})",
                      [entry_id, hunt_id, kind, body.strip(), analyst, now]),
                     ("UPDATE hunts SET updated_at = ? WHERE hunt_id = ?", [now, hunt_id])])
        return entry_id

    def close_hunt(self, hunt_id: str, outcome: str, conclusion: str | None = None) -> None:
        """Record the hunt's outcome (``open`` reopens it) and conclusion."""
        if outcome not in OUTCOMES:
            raise WinnowError(f"outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        self.hunt(hunt_id)
        self._write([("UPDATE hunts SET outcome = ?, conclusion = ?, updated_at = ? WHERE hunt_id = ?",
                      [outcome, (conclusion or "").strip() or None, _now(), hunt_id])])

    def hunts(self) -> list[dict[str, Any]]:
        """Every hunt, the most recently changed first, with its number of entries."""
        if self.db is None:
            return []
        rows = self.db.execute(f"SELECT {', '.join('h.' + c for c in _HUNT)}, count(e.entry_id) FROM hunts h "
                               "LEFT JOIN hunt_entries e USING (hunt_id) GROUP BY ALL "
                               "ORDER BY h.updated_at DESC, h.hunt_id").fetchall()
        return [{**dict(zip(_HUNT, row[:-1], strict=True)), "entries": row[-1]} for row in rows]

    def hunt(self, hunt_id: str) -> dict[str, Any]:
        """One hunt with its entries in the order they were made."""
        if self.db is not None:
            rows = self.db.execute(f"SELECT {', '.join(_HUNT)} FROM hunts WHERE hunt_id = ?", [hunt_id]).fetchall()
            if rows:
                entries = self.db.execute(f"SELECT {', '.join(_ENTRY)} FROM hunt_entries WHERE hunt_id = ? "
                                          "ORDER BY seq", [hunt_id]).fetchall()
                return {**dict(zip(_HUNT, rows[0], strict=True)),
                        "entries": [dict(zip(_ENTRY, e, strict=True)) for e in entries]}
        raise WinnowError(f"no hunt {hunt_id!r} in the journal")

    def save_query(self, name: str, sql: str, analyst: str) -> None:
        """Save ``sql`` under ``name`` (replacing the query saved under that name, if any)."""
        name, sql = name.strip(), sql.strip()
        if not name or not sql:
            raise WinnowError("a saved query needs a name and its SQL")
        self._write([("DELETE FROM saved_queries WHERE name = ?", [name]),
                     (f"INSERT INTO saved_queries ({', '.join(_SAVED)}) VALUES ({', '.join('?' * len(_SAVED))})",
                      [name, sql, analyst, _now()])])

    def saved_queries(self) -> list[dict[str, Any]]:
        """Every saved query, by name."""
        if self.db is None or not self.db.execute("SELECT count(*) FROM information_schema.tables "
                                                  "WHERE table_name = 'saved_queries'").fetchone()[0]:
            return []  # a journal file older than saved queries, opened read-only
        rows = self.db.execute(f"SELECT {', '.join(_SAVED)} FROM saved_queries ORDER BY name").fetchall()
        return [dict(zip(_SAVED, row, strict=True)) for row in rows]

    def saved_query(self, name: str) -> dict[str, Any]:
        """The query saved under ``name``."""
        for saved in self.saved_queries():
            if saved["name"] == name:
                return saved
        raise WinnowError(f"no saved query {name!r}")

    def delete_query(self, name: str) -> None:
        """Delete the query saved under ``name``."""
        self.saved_query(name)
        self._write([("DELETE FROM saved_queries WHERE name = ?", [name])])


def to_markdown(hunt: dict[str, Any]) -> str:
    """A hunt as a Markdown document."""
    titles = {"query": "Queries run", "finding": "Findings linked", "note": "Notes"}
    lines = [f"# {hunt['title']}", "", f"- analyst: {hunt['analyst']}", f"- started: {hunt['created_at']}",
             f"- outcome: {hunt['outcome']}", "", "## Hypothesis", "", hunt["hypothesis"], ""]
    for kind in ENTRY_KINDS:
        entries = [e for e in hunt["entries"] if e["kind"] == kind]
        if not entries:
            continue
        lines += [f"## {titles[kind]}", ""]
        for e in entries:
            if kind == "query":
                lines += [f"{e['created_at']} ({e['analyst']}):", "", "```", e["body"], "```", ""]
            else:
                lines.append(f"- {e['created_at']} ({e['analyst']}): {e['body']}")
        lines.append("")
    lines += ["## Outcome", "", f"{hunt['outcome']}" + (f": {hunt['conclusion']}" if hunt.get("conclusion") else ""),
              ""]
    return "\n".join(lines)

"""Analysts' ratings and verdicts: durable, attributed, exportable and mergeable.

A rating says how malicious an analyst judged one subject, 1 (benign) to 5 (malicious): a finding,
an entity, or a synthetic scenario. It keeps what the analyst saw (``card``) and the subject's
features at that time, so the expert model can learn from it even after the lake has changed.
Ratings live in ``<lake>/ratings.duckdb``; each is committed on its own, so killing a rating
session loses at most the rating being typed. Exports are JSON lines; importing is idempotent (a
rating's id is its identity) and keeps every analyst's rating, agreeing or not.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from winnow.engine import DatabaseFile
from winnow.errors import WinnowError

FILE_NAME = "ratings.duckdb"
KINDS = ("finding", "entity", "scenario")
SOURCES = ("rate", "verdict", "import")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    rating_id VARCHAR PRIMARY KEY, subject_kind VARCHAR NOT NULL, subject VARCHAR NOT NULL,
    features VARCHAR NOT NULL, card VARCHAR NOT NULL, rating INTEGER NOT NULL, analyst VARCHAR NOT NULL,
    note VARCHAR, created_at VARCHAR NOT NULL, source VARCHAR NOT NULL, suppression VARCHAR
)
"""
_COLUMNS = ("rating_id", "subject_kind", "subject", "features", "card", "rating", "analyst", "note", "created_at",
            "source", "suppression")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Rating:
    subject_kind: str
    subject: str
    rating: int
    analyst: str
    features: dict[str, float] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    created_at: str = field(default_factory=now)
    source: str = "rate"
    suppression: str | None = None  # the suppression rule a verdict created, if any
    rating_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if self.subject_kind not in KINDS:
            raise WinnowError(f"rating of {self.subject_kind!r}: rate a {', '.join(KINDS)}")
        if not isinstance(self.rating, int) or not 1 <= self.rating <= 5:
            raise WinnowError(f"rating {self.rating!r}: give 1 (benign) to 5 (malicious)")
        if self.source not in SOURCES:
            raise WinnowError(f"rating source {self.source!r}: one of {', '.join(SOURCES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RatingStore(DatabaseFile):
    """``with RatingStore(lake_root) as store: store.add(rating)``."""

    FILE_NAME = FILE_NAME
    SCHEMA = _SCHEMA

    def add(self, rating: Rating) -> bool:
        """Store ``rating`` (committed at once); False when a rating with its id is already stored."""
        values = [rating.rating_id, rating.subject_kind, rating.subject, json.dumps(rating.features, sort_keys=True),
                  json.dumps(rating.card, sort_keys=True, default=str), rating.rating, rating.analyst, rating.note,
                  rating.created_at, rating.source, rating.suppression]
        marks = ", ".join("?" for _ in _COLUMNS)
        before = self._count()
        self.db.execute(f"INSERT INTO ratings ({', '.join(_COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                        values)
        return self._count() > before

    def _count(self) -> int:
        return self.db.execute("SELECT count(*) FROM ratings").fetchone()[0]

    def all(self) -> list[Rating]:
        if self.db is None or not self._exists():
            return []
        rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM ratings ORDER BY created_at, rating_id").fetchall()
        return [_rating(dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    def _exists(self) -> bool:
        return bool(self.db.execute("SELECT count(*) FROM information_schema.tables "
                                    "WHERE table_name = 'ratings'").fetchone()[0])

    def for_subject(self, kind: str, subject: str) -> list[Rating]:
        return [r for r in self.all() if r.subject_kind == kind and r.subject.lower() == subject.lower()]

    def remove(self, rating_id: str) -> None:
        self.db.execute("DELETE FROM ratings WHERE rating_id = ?", [rating_id])

    def export(self, path: Path) -> int:
        ratings = self.all()
        with Path(path).open("w", encoding="utf-8") as out:
            for r in ratings:
                out.write(json.dumps(r.to_dict(), sort_keys=True) + "\n")
        return len(ratings)

    def import_(self, path: Path) -> tuple[int, int, list[str]]:
        """(added, already present, problems with file:line) from a JSON-lines export."""
        added = skipped = 0
        problems = []
        with Path(path).open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    rating = _rating({**data, "features": json.dumps(data.get("features") or {}),
                                      "card": json.dumps(data.get("card") or {})})
                except (ValueError, TypeError, KeyError, WinnowError) as exc:
                    problems.append(f"{path}:{number}: not a rating ({exc})")
                    continue
                if self.add(rating):
                    added += 1
                else:
                    skipped += 1
        return added, skipped, problems


def _rating(row: dict[str, Any]) -> Rating:
    return Rating(subject_kind=row["subject_kind"], subject=row["subject"], rating=int(row["rating"]),
                  analyst=row["analyst"], features=json.loads(row["features"]), card=json.loads(row["card"]),
                  note=row.get("note"), created_at=row["created_at"], source=row["source"],
                  suppression=row.get("suppression"), rating_id=row["rating_id"])


def default_analyst() -> str:
    import getpass

    from winnow.config import current

    name = current().get("triage.analyst")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "analyst"

"""Atomic publication: the one way files enter or leave the published lake.

A :class:`Commit` names finished temporary files and where they go (``moves``), published files it
retires (``removes``) and manifest entries it records (``entries``). Ingest, the NetFlow collector,
its compaction and derived tables all publish this way:

1. the writer finishes every temporary file under ``_tmp/`` (holding the lake's lock);
2. a journal of the whole commit is written and fsynced (``_journal/<id>.json``): the commit point;
3. the moves are renamed into place (``os.replace``: a part of the same name is replaced atomically),
   the removes deleted, and the entries that differ from the manifest's appended with one fsync;
4. the journal is deleted.

A writer killed before step 2 has published nothing: the next writer's :func:`recover` drops its
temporary files. Killed after it, :func:`recover` finishes steps 3-4, each idempotent (a move whose
temporary file is gone was done, a missing remove was done, an entry equal to the manifest's is not
appended again). Readers of a table glob see a commit's files appear one rename at a time.

Journals written by earlier versions (``{"entry", "moves"}`` and ``{"commits": [...]}``) are read too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from winnow.lake.layout import Lake
from winnow.lake.manifest import Manifest, ManifestEntry


@dataclass
class Commit:
    """What one commit publishes: renames, deletions and manifest entries, applied together."""

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    removes: list[Path] = field(default_factory=list)
    entries: list[ManifestEntry] = field(default_factory=list)

    def add(self, entry: ManifestEntry | None = None, moves: list[tuple[Path, Path]] = ()) -> None:
        """Add one file's parts (and its manifest entry)."""
        self.moves.extend(moves)
        if entry is not None:
            self.entries.append(entry)

    def __bool__(self) -> bool:
        return bool(self.moves or self.removes or self.entries)


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def publish(lake: Lake, commit: Commit, manifest: Manifest | None = None) -> None:
    """Publish ``commit`` (the caller holds the lake's lock); safe to interrupt at any point.

    Pass the ``manifest`` already open for this lake to avoid re-reading it.
    """
    if not commit:
        return
    for tmp, _ in commit.moves:
        if not os.path.exists(tmp):  # a journal naming it would publish nothing in its place
            raise FileNotFoundError(f"{tmp}: temporary part gone before its commit (was the lake's lock held "
                                    "while it was written?)")
    moves = dict.fromkeys((str(a), str(b)) for a, b in commit.moves)  # files sharing a part list it once each
    payload = {"moves": [list(m) for m in moves], "removes": [str(p) for p in commit.removes],
               "entries": [asdict(e) for e in commit.entries]}
    text = json.dumps(payload)
    lake.journal_dir.mkdir(exist_ok=True)
    journal = lake.journal_dir / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"
    _fsync_write(journal, text)
    _finish(journal, payload, manifest or Manifest(lake))


def _move(tmp: str, final: str) -> None:
    """Rename a finished part into place (its partition folder is made only when missing)."""
    try:
        os.replace(tmp, final)
    except FileNotFoundError:
        if not Path(tmp).exists():
            return  # moved already by the commit this one finishes
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)


def _normalized(payload: dict) -> dict:
    """A journal of any version as ``{"moves", "removes", "entries"}``."""
    if "commits" in payload or "entry" in payload:
        items = payload.get("commits") or [payload]
        return {"moves": [m for item in items for m in item["moves"]], "removes": [],
                "entries": [item["entry"] for item in items]}
    return payload


def _finish(journal: Path, payload: dict, manifest: Manifest) -> None:
    payload = _normalized(payload)
    for tmp, final in payload["moves"]:
        _move(tmp, final)
    kept = {final for _, final in payload["moves"]}
    for path in payload["removes"]:
        if path not in kept:
            Path(path).unlink(missing_ok=True)
    entries = [ManifestEntry(**e) for e in payload["entries"]]
    manifest.append_many([e for e in entries if manifest.get(e.sha256) != e])
    journal.unlink(missing_ok=True)


def recover(lake: Lake) -> int:
    """Finish commits a killed writer left half-done and drop its temporary files; return how many."""
    done = 0
    manifest = Manifest(lake)
    if lake.journal_dir.is_dir():
        for journal in sorted(lake.journal_dir.glob("*.json")):
            try:
                payload = json.loads(journal.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                journal.unlink(missing_ok=True)
                continue
            _finish(journal, payload, manifest)
            done += 1
        for partial in lake.journal_dir.glob("*.partial"):  # killed before its commit point
            partial.unlink(missing_ok=True)
    if lake.tmp_dir.is_dir():
        shutil.rmtree(lake.tmp_dir, ignore_errors=True)
    return done

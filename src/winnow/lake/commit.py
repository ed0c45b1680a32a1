"""Atomic publication of Parquet parts: write to _tmp, journal, rename, manifest.

The journal lists every (temporary, final) pair of one or more files and is written only once
all their temporary parts are complete, so a crash at any later point is finished by
:func:`recover` on the next open; a crash before it leaves only temporary files, which are
discarded. Committing several small files together (:func:`publish_many`) costs one journal
and one manifest fsync for all of them.

Journal formats: ``{"entry": ..., "moves": [[tmp, final], ...]}`` for one file (what
:func:`publish` writes, and all that earlier versions wrote) and ``{"commits": [{"entry": ...,
"moves": ...}, ...]}`` for a group; :func:`recover` reads both.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from winnow.lake.layout import Lake
from winnow.lake.manifest import Manifest, ManifestEntry


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def publish(lake: Lake, entry: ManifestEntry, moves: list[tuple[Path, Path]],
            manifest: Manifest | None = None) -> None:
    """Move finished parts into place and record ``entry``; safe to interrupt at any point.

    Pass the ``manifest`` already open for this lake to avoid re-reading it for every file.
    """
    publish_many(lake, [(entry, moves)], manifest)


def publish_many(lake: Lake, commits: list[tuple[ManifestEntry, list[tuple[Path, Path]]]],
                 manifest: Manifest | None = None) -> None:
    """Publish several files' parts as one commit (one journal, one manifest append); safe to interrupt."""
    if not commits:
        return
    lake.journal_dir.mkdir(exist_ok=True)
    journal = lake.journal_dir / f"{commits[0][0].sha256}.json"
    items = [{"entry": entry.__dict__, "moves": [[str(a), str(b)] for a, b in moves]} for entry, moves in commits]
    payload = items[0] if len(items) == 1 else {"commits": items}
    _fsync_write(journal, json.dumps(payload))
    _finish(lake, journal, payload, manifest or Manifest(lake))


def _move(tmp: str, final: str) -> None:
    """Rename a finished part into place (its partition folder is made only when missing)."""
    try:
        os.replace(tmp, final)
    except FileNotFoundError:
        if not Path(tmp).exists():
            return  # moved already by the commit this one finishes
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)


def _finish(lake: Lake, journal: Path, payload: dict, manifest: Manifest) -> None:
    items = payload["commits"] if "commits" in payload else [payload]
    for item in items:
        for tmp, final in item["moves"]:
            _move(tmp, final)
    entries = [ManifestEntry(**item["entry"]) for item in items]
    manifest.append_many([e for e in entries if e.sha256 not in manifest])
    journal.unlink(missing_ok=True)


def recover(lake: Lake) -> int:
    """Finish commits a killed ingest left half-done and drop its temporary files."""
    done = 0
    manifest = Manifest(lake)
    if lake.journal_dir.is_dir():
        for journal in sorted(lake.journal_dir.glob("*.json")):
            try:
                payload = json.loads(journal.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                journal.unlink(missing_ok=True)
                continue
            _finish(lake, journal, payload, manifest)
            done += 1
    if lake.tmp_dir.is_dir():
        shutil.rmtree(lake.tmp_dir, ignore_errors=True)
    return done

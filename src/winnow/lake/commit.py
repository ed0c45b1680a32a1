"""Atomic publication of one file's Parquet parts: write to _tmp, journal, rename, manifest.

The journal lists every (temporary, final) pair and is written only once all temporary parts
are complete, so a crash at any later point is finished by :func:`recover` on the next open;
a crash before it leaves only temporary files, which are discarded.
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
    lake.journal_dir.mkdir(exist_ok=True)
    journal = lake.journal_dir / f"{entry.sha256}.json"
    payload = {"entry": entry.__dict__, "moves": [[str(a), str(b)] for a, b in moves]}
    _fsync_write(journal, json.dumps(payload))
    _finish(lake, journal, payload, manifest or Manifest(lake))


def _finish(lake: Lake, journal: Path, payload: dict, manifest: Manifest) -> None:
    for tmp, final in payload["moves"]:
        final_path = Path(final)
        if Path(tmp).exists():
            final_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final_path)
    entry = ManifestEntry(**payload["entry"])
    if entry.sha256 not in manifest:
        manifest.append(entry)
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

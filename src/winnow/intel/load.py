"""Load every feed file of a folder, each by the first format whose sniff accepts it."""

from __future__ import annotations

import logging
from pathlib import Path

from winnow.intel.model import Feeds, FeedWarning
from winnow.intel.registry import Sink, feed_formats

log = logging.getLogger("winnow.intel")
HEAD = 64 * 1024


def load_feeds(folder: str | Path, log_warnings: bool = True) -> Feeds:
    """Indicators of every file under ``folder`` (hidden files skipped); each bad record one warning.

    The feed of an indicator is its file's name without the suffix. Warnings are also logged on
    ``winnow.intel`` (one line each, ``file:line: reason``) unless ``log_warnings`` is false.
    """
    feeds = Feeds()
    root = Path(folder)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts)) if root.is_dir() else [root]
    formats = feed_formats()
    for path in paths:
        name = str(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            feeds.warnings.append(FeedWarning(name, None, f"unreadable as UTF-8 text: {exc}"))
            continue
        head = text[:HEAD]
        fmt = next(f for f in formats.values() if f.sniff(head, path.name))
        feeds.formats[name] = fmt.name
        feeds.files.setdefault(name, 0)
        fmt.parse(text, Sink(feeds, name, path.stem))
    if log_warnings:
        for warning in feeds.warnings:
            log.warning("intel feed %s", warning)
    return feeds

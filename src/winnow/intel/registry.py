"""The one registry of feed formats, and the sink every format's parser writes indicators to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from winnow.intel.model import BadIndicator, Feeds, FeedWarning, Indicator, normalize

SNIPPET = 120  # characters of a bad record kept in its warning


@dataclass
class Sink:
    """Collects one file's indicators into ``feeds``; a bad record becomes one located warning."""

    feeds: Feeds
    file: str
    feed: str

    def add(self, kind: str, value: str, line: int | None, confidence: float | None = None,
            source: str = "", description: str = "") -> bool:
        """Normalize and keep an indicator; False (and a warning naming ``line``) when it is invalid."""
        try:
            kind, value = normalize(kind, value)
        except BadIndicator as exc:
            self.warn(line, str(exc), value)
            return False
        if confidence is not None and not 0 <= confidence <= 100:
            self.warn(line, f"confidence {confidence:g} outside 0-100", value)
            return False
        self.feeds.indicators.append(Indicator(kind, value, confidence, self.feed, source, description,
                                               self.file, line))
        self.feeds.files[self.file] = self.feeds.files.get(self.file, 0) + 1
        return True

    def skip(self, reason: str) -> None:
        """Count a valid record of a kind Winnow does not match (no warning: the feed is not wrong)."""
        key = (self.file, reason)
        self.feeds.skipped[key] = self.feeds.skipped.get(key, 0) + 1

    def warn(self, line: int | None, reason: str, snippet: str = "") -> None:
        self.feeds.warnings.append(FeedWarning(self.file, line, reason, snippet.strip()[:SNIPPET]))


@dataclass(frozen=True)
class FeedFormat:
    """A feed format: ``sniff(head, filename)`` on the first 64 KB of text, ``parse(text, sink)``."""

    name: str
    description: str
    sniff: Callable[[str, str], bool]
    parse: Callable[[str, Sink], None]


_FORMATS: dict[str, FeedFormat] = {}
#: formats tried in this order; the last one (plain lists) takes any text
ORDER = ("stix", "misp", "zeek_intel", "csv")


def register(fmt: FeedFormat) -> FeedFormat:
    """Add a feed format under its name."""
    if fmt.name in _FORMATS:
        raise ValueError(f"feed format {fmt.name!r} registered twice")
    _FORMATS[fmt.name] = fmt
    return fmt


def feed_formats() -> dict[str, FeedFormat]:
    """Every feed format by name, in sniffing order."""
    if not _FORMATS:
        from winnow.intel import csv_feed, misp_feed, stix_feed, zeek_feed  # noqa: F401  (register on import)
    return {name: _FORMATS[name] for name in ORDER if name in _FORMATS}


def line_of(text: str, needle: str) -> int | None:
    """1-based line of the first ``needle`` in ``text`` (locates a JSON object by its id), None if absent."""
    at = text.find(needle) if needle else -1
    return None if at < 0 else text.count("\n", 0, at) + 1


def confidence_of(text: str | float | int | None, line: int | None, sink: Sink) -> float | None:
    """A confidence given as text or number (0-100; a 0-1 fraction is scaled), None when empty or invalid."""
    if text is None or (isinstance(text, str) and text.strip() in ("", "-")):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        sink.warn(line, f"confidence {text!r} is not a number; the feed's default is used", str(text))
        return None
    if value != value:
        return None
    return value * 100 if 0 < value < 1 else value


__all__ = ["BadIndicator", "FeedFormat", "Sink", "confidence_of", "feed_formats", "line_of", "register"]

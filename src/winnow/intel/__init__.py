"""Threat intel feeds: indicator lists loaded at query time (CSV, Zeek intel, STIX 2.1, MISP JSON).

Feeds are read from the folder the ``intel.feeds`` setting names every time the ``intel`` detector
runs, so changing a list never needs a re-ingest. Each format is registered once
(:mod:`winnow.intel.registry`); a bad record is one warning naming its file and line.
"""

from __future__ import annotations

from winnow.intel.load import load_feeds
from winnow.intel.model import KINDS, Feeds, FeedWarning, Indicator
from winnow.intel.registry import feed_formats

__all__ = ["KINDS", "FeedWarning", "Feeds", "Indicator", "feed_formats", "load_feeds"]

"""Winnow: threat hunting and security analytics over the logs you already have."""

from __future__ import annotations

__version__ = "0.1.0"

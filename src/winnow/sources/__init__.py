"""Log sources: one module per format, each registered in ``registry``."""

from __future__ import annotations

from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.registry import get_source, register, sniff, sources

__all__ = ["AbandonFile", "Batch", "ParseContext", "Source", "get_source", "register", "sniff", "sources"]

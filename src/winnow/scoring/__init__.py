"""Findings and the scores and explanations attached to them."""

from __future__ import annotations

from winnow.scoring import render
from winnow.scoring.finding import FINDING_FIELDS, Finding, severity_for

__all__ = ["FINDING_FIELDS", "Finding", "render", "severity_for"]

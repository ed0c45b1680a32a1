"""Detector settings that are lists of records with regular expressions, checked where they are read.

A record of the wrong length or a pattern that does not compile is the user's error: one line naming
the setting and the record, never a traceback in the middle of a detection run.
"""

from __future__ import annotations

import re

from winnow.errors import WinnowError


def checked(setting: str, records: tuple, fields: tuple[str, ...]) -> tuple[tuple, ...]:
    """``records`` as tuples, each of exactly ``fields`` (named in the error)."""
    out = []
    for record in records:
        if not isinstance(record, (list, tuple)) or len(record) != len(fields):
            raise WinnowError(f"{setting}: {record!r} is not a record [{', '.join(fields)}]")
        out.append(tuple(record))
    return tuple(out)


def pattern(setting: str, text: str) -> re.Pattern:
    """``text`` compiled case-insensitively; a bad expression is a user error naming the setting."""
    try:
        return re.compile(text, re.I)
    except re.error as exc:
        raise WinnowError(f"{setting}: {text!r} is not a regular expression: {exc}") from None

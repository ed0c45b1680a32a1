"""Errors a user can cause and fix; the CLI prints them as one line and exits 1."""

from __future__ import annotations


class WinnowError(Exception):
    """A user error: bad path, unknown format, missing extra. Printed without a traceback."""


class MissingExtraError(WinnowError):
    """An optional dependency is not installed; the message carries the install hint."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed: "
            f"pip install 'winnow[{extra}]'"
        )

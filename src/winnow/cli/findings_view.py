"""Findings as a terminal table: what ``winnow findings`` and ``winnow demo`` print."""

from __future__ import annotations

from typing import Any

from winnow.cli.output import emit, safe

_SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow"}


def cells(row: dict[str, Any]) -> dict[str, Any]:
    """A finding as table cells: the score to two decimals, the detector over when it was seen
    (first – last, UTC), the entity over its whole why."""
    from rich.text import Text

    from winnow.cli import readable

    seen = Text(safe(row["detector"]), style="bold")
    seen.append("\n" + readable.span(row["first_seen"], row["last_seen"], sep="\n– "), style="")
    story = Text(safe(row["entity"]), style="bold")
    story.append("\n" + safe(row["why"]), style="")
    severity = Text(row["severity"], style=_SEVERITY_STYLES.get(row["severity"], ""))
    return {"score": readable.score(row["score"]), "severity": severity, "detector / seen": seen,
            "entity / why": story}


def print_findings(rows: list[dict[str, Any]], title: str | None = None) -> None:
    """Print findings (contract dicts) as a table, one finding per block of lines."""
    emit([cells(row) for row in rows], "table", title=title, right=("score",), nowrap=("severity", "detector / seen"),
         caption="Seen: first – last, UTC. --format jsonl gives every field (components, evidence).", spaced=True)

"""The contract every log source follows: a cheap sniff and a streaming, columnar parse.

A source never writes files and never adds provenance columns other than ``_line`` (and
``sensor`` when the log names one); the ingest layer adds the rest.

Ingest also checks every batch's values against the columns' declared ``check`` (ports, addresses,
counts; :mod:`winnow.sources.value_checks`): an invalid value becomes null with a warning naming the
line and field, and the row is kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

import pyarrow as pa

from winnow.errors import WinnowError

SNIPPET = 120


class AbandonFile(WinnowError):
    """Raised by a parser when a file is hopeless (too many bad lines in a row)."""


@dataclass
class Warning_:
    line: int | None
    reason: str
    snippet: str


@dataclass
class ParseContext:
    """What a parser may report while it reads one file.

    Args:
        file: display name of the file (archive!member for zip members).
        max_consecutive_bad: bad lines in a row after which the file is abandoned (default: the
            ``ingest.max_consecutive_bad`` setting in force).
        block_size: bytes of a line-oriented log read and parsed at a time (default: ``ingest.block_size``).
        json_shape_rows: JSON lines of one shape read column-wise from this many in a block (default:
            ``ingest.json_shape_rows``).
        json_known_shapes: shapes of the block before that a JSON lines block is matched against first
            (default: ``ingest.json_known_shapes``).
        auditd_column_events: auditd socket events gathered and mapped column-wise at a time (blocks of plain raw
            records assembled column-wise); 0: every record and event one by one (default:
            ``ingest.auditd_column_events``).
        parse_workers: threads preparing blocks ahead of the one being turned into rows (default:
            ``ingest.parse_workers``).
        netflow_templates: the NetFlow v9/IPFIX template store (a
            :class:`~winnow.sources.netflow_store.TemplateStore`) the ingest layer carries across the
            files of an ingest and across ingests of a lake; None: each file starts without templates.
    """

    file: str
    max_consecutive_bad: int | None = None
    block_size: int | None = None
    json_shape_rows: int | None = None
    json_known_shapes: int | None = None
    auditd_column_events: int | None = None
    parse_workers: int | None = None
    netflow_templates: Any = None
    warnings: list[Warning_] = field(default_factory=list)
    unsupported: dict[str, int] = field(default_factory=dict)
    _last_bad: int | None = None
    _run: int = 0

    def __post_init__(self) -> None:
        if None in (self.max_consecutive_bad, self.block_size, self.json_shape_rows, self.json_known_shapes,
                    self.auditd_column_events, self.parse_workers):
            from winnow.config import current

            config = current()
            if self.max_consecutive_bad is None:
                self.max_consecutive_bad = config.get("ingest.max_consecutive_bad")
            if self.block_size is None:
                self.block_size = config.get("ingest.block_size")
            if self.json_shape_rows is None:
                self.json_shape_rows = config.get("ingest.json_shape_rows")
            if self.json_known_shapes is None:
                self.json_known_shapes = config.get("ingest.json_known_shapes")
            if self.auditd_column_events is None:
                self.auditd_column_events = config.get("ingest.auditd_column_events")
            if self.parse_workers is None:
                self.parse_workers = config.get("ingest.parse_workers")

    def warn(self, line: int | None, reason: str, snippet: bytes | str = b"", kept: bool = False) -> None:
        """Record a problem; abandon the file after a run of consecutive bad lines.

        With ``kept`` the line's row was kept (one field nulled): it does not count toward abandoning.
        """
        if isinstance(snippet, bytes):
            snippet = snippet[: SNIPPET * 4].decode("utf-8", "replace")
        snippet = snippet.replace("\t", "\\t")[:SNIPPET]
        self.warnings.append(Warning_(line, reason, snippet))
        if kept or line is None or line == self._last_bad:
            return  # not a line, or another problem on a line already counted
        self._run = self._run + 1 if self._last_bad is not None and line == self._last_bad + 1 else 1
        self._last_bad = line
        if self._run >= self.max_consecutive_bad:
            raise AbandonFile(
                f"{self.file}: abandoned at line {line} after {self._run} consecutive bad lines ({reason})"
            )

    def skip_unsupported(self, kind: str, rows: int) -> None:
        """Count rows of a log kind that no table takes yet."""
        self.unsupported[kind] = self.unsupported.get(kind, 0) + rows


@dataclass(frozen=True)
class Batch:
    """Rows for one table: the table's data columns plus ``extra``, ``_line`` and maybe ``sensor``."""

    table: str
    data: pa.Table
    #: its values were checked already (:func:`~winnow.sources.value_checks.check_values`, on a parse worker)
    checked: bool = False


class Source(ABC):
    """Base class of a registered log source."""

    name: ClassVar[str]
    description: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]

    @abstractmethod
    def sniff(self, head: bytes, filename: str) -> bool:
        """Return True when ``head`` (the first few KB, decompressed) looks like this format."""

    @abstractmethod
    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        """Yield batches of normalized rows from a binary stream, reporting problems to ``ctx``."""

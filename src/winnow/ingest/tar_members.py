"""Members of tar archives (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``), read in place.

A tar archive is listed once (one pass over it); each member is then read straight from the
archive's decompressed stream, never extracted to disk. Members are read in archive order, so one
shared forward-only stream serves them all; the sniffing head of a member is kept so that reading
the member right after its head does not rewind the archive.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from winnow.sources.blocks import READ_ERRORS

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")


def is_tar(path: Path) -> bool:
    """True when ``path`` is a tar archive, compressed or not (a damaged one too, when its name says tar)."""
    try:
        return tarfile.is_tarfile(path)
    except (*READ_ERRORS, tarfile.TarError):
        return path.name.lower().endswith(TAR_SUFFIXES)


def tar_members(path: Path, opener: Callable[[Any], BinaryIO]) -> Iterator[tuple[str, int, Callable[[], BinaryIO]]]:
    """``(name, size, open)`` of every regular file in the archive, in archive order.

    An archive that cannot be listed to its end gives the members listed before the damage, then
    one entry named after the archive itself whose ``open`` raises the error (it becomes a warning).

    Args:
        path: the archive.
        opener: turns the archive's stored bytes into its decompressed bytes (magic-byte detection).
    """
    archive = _SharedStream(path, opener)
    members: list[tarfile.TarInfo] = []
    error: Exception | None = None
    try:
        with open(path, "rb") as stored, opener(stored) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for info in tar:
                if info.isfile():
                    members.append(info)
    except (*READ_ERRORS, tarfile.TarError) as exc:
        error = exc
    archive.last = members[-1].offset_data if members else -1
    for info in members:
        if any(part.startswith(".") for part in Path(info.name).parts):
            continue
        yield info.name, info.size, archive.member_opener(info.offset_data, info.size)
    if error is not None:
        yield "", 0, _failing(f"tar archive is damaged or ends early after {len(members)} members: {error}")


def _failing(message: str) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        raise OSError(message)

    return opener


class _SharedStream:
    """One forward-only decompressed stream of an archive, shared by the openers of its members."""

    def __init__(self, path: Path, opener: Callable[[Any], BinaryIO]) -> None:
        self.path, self.opener = path, opener
        self.stream: BinaryIO | None = None
        self.file: BinaryIO | None = None
        self.pos = 0
        self.kept_at, self.kept = -1, b""  # the start of the last member opened, as read so far
        self.last = -1  # where the last member starts: the stream is closed when it has been read

    def member_opener(self, offset: int, size: int) -> Callable[[], BinaryIO]:
        return lambda: _Member(self, offset, size)

    def seek(self, offset: int) -> None:
        if self.stream is None or offset < self.pos:
            self.close()
            self.file = open(self.path, "rb")  # noqa: SIM115 - kept open across members, closed by close()
            self.stream, self.pos = self.opener(self.file), 0
        while self.pos < offset:
            skipped = self.stream.read(min(offset - self.pos, 1 << 20))
            if not skipped:
                raise EOFError(f"{self.path}: archive ends before a member it lists")
            self.pos += len(skipped)

    def close(self) -> None:
        """Close the stream (the next read reopens it)."""
        for handle in (self.stream, self.file):
            if handle is not None:
                handle.close()
        self.stream = self.file = None

    def read(self, size: int) -> bytes:
        assert self.stream is not None
        data = self.stream.read(size)
        self.pos += len(data)
        return data


class _Member(io.RawIOBase):
    """The bytes of one member: first what the shared stream kept of its start, then the stream."""

    def __init__(self, archive: _SharedStream, offset: int, size: int) -> None:
        self.archive, self.offset, self.size, self.done = archive, offset, size, 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.offset == self.archive.last and self.done >= self.size:
            self.archive.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.done)
        if want <= 0:
            return 0
        archive = self.archive
        kept = archive.kept if archive.kept_at == self.offset else b""
        if self.done < len(kept) and archive.pos == self.offset + len(kept):
            data = kept[self.done : self.done + want]
        else:
            if archive.pos != self.offset + self.done:
                archive.seek(self.offset + self.done)
            data = archive.read(want)
            if not data:
                raise EOFError(f"{archive.path}: archive ends inside a member")
            if archive.kept_at != self.offset:
                archive.kept_at, archive.kept = self.offset, b""
            if self.done == len(archive.kept) and len(archive.kept) < (1 << 20):
                archive.kept += data  # the member's start, for a reader that opens it again
        buffer[: len(data)] = data
        self.done += len(data)
        return len(data)

"""Find the input files under the paths a user gave: folders, gzip/bzip2/xz files, zip and tar members."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from winnow.errors import WinnowError
from winnow.ingest.tar_members import is_tar, tar_members
from winnow.sources.blocks import READ_ERRORS, read_some

HEAD_BYTES = 64 << 10
_SKIP_NAMES = {"SHA256SUMS", "truth.json"}


@dataclass(frozen=True)
class InputFile:
    """One log file to ingest (possibly a zip member), opened lazily."""

    name: str
    size: int
    _open_raw: Callable[[], BinaryIO]
    mtime_ns: int = 0
    #: read from a stream shared with the other members of its archive (tar): in order, by one process
    in_stream: bool = False

    def open_raw(self) -> BinaryIO:
        """The bytes as stored (compressed or not)."""
        return self._open_raw()

    def open(self) -> BinaryIO:
        """The decompressed bytes, whatever the compression (detected from magic bytes)."""
        return _decompress(self.open_raw())

    def open_hashed(self, digest: Any) -> tuple[BinaryIO, HashingReader]:
        """Like :meth:`open`, feeding every stored byte read to ``digest`` (no second pass for the hash).

        Call ``drain()`` on the returned reader after parsing so bytes the parser left unread
        are hashed too.
        """
        hashing = HashingReader(self.open_raw(), digest)
        return _decompress(hashing), hashing

    def head(self) -> bytes:
        """The first 64 KB of decompressed content (what could be read of it; '' when unreadable)."""
        return self.read_head()[0]

    def read_head(self) -> tuple[bytes, Exception | None]:
        """The first 64 KB of decompressed content as far as it could be read, and the error that stopped it."""
        try:
            with self.open() as fh:
                return read_some(fh, HEAD_BYTES)
        except (*READ_ERRORS, RuntimeError) as exc:
            return b"", exc

    def sha256(self) -> str:
        """Content hash of the stored bytes: the identity of the file in the manifest."""
        digest = hashlib.sha256()
        with self.open_raw() as fh:
            while chunk := fh.read(8 << 20):
                digest.update(chunk)
        return digest.hexdigest()


def _decompress(raw: Any) -> BinaryIO:
    try:
        if hasattr(raw, "peek"):
            magic = raw.peek(6)[:6]
        else:
            magic = raw.read(6)
            raw.seek(0)
    except READ_ERRORS:
        return raw  # a damaged zip member: reading it raises again, where the error is reported
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    return raw


class HashingReader(io.BufferedIOBase):
    """A read-only stream that feeds what passes through it to a hash."""

    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self.raw, self.digest = raw, digest
        try:
            self._peeked = raw.read(6)
        except READ_ERRORS:
            self._peeked = b""  # a damaged zip member: the parser's first read raises again

    def readable(self) -> bool:
        return True

    def peek(self, size: int = 0) -> bytes:
        return self._peeked

    def read(self, size: int | None = -1) -> bytes:
        head, self._peeked = self._peeked, b""
        if size is None or size < 0:
            data = head + self.raw.read()
        else:
            data = head + (self.raw.read(size - len(head)) if size > len(head) else b"")
            if size < len(head):
                data, self._peeked = head[:size], head[size:]
        self.digest.update(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    read1 = read

    def drain(self) -> None:
        """Read (and hash) whatever the parser left unread."""
        while True:
            if not self.read(8 << 20):
                return

    def close(self) -> None:
        self.raw.close()
        super().close()


def _zip_members(path: Path) -> Iterator[InputFile]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise WinnowError(f"{path}: not a readable zip archive ({exc})") from None
    mtime = path.stat().st_mtime_ns
    with archive:
        for info in archive.infolist():
            if info.is_dir() or Path(info.filename).name.startswith("."):
                continue
            if info.flag_bits & 0x1:
                yield InputFile(f"{path}!{info.filename}", info.file_size, _encrypted(path, info.filename), mtime)
                continue
            yield InputFile(f"{path}!{info.filename}", info.file_size, _member_opener(path, info.filename), mtime)


def _member_opener(path: Path, member: str) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        import io

        archive = zipfile.ZipFile(path)
        handle = archive.open(member)
        if handle.seekable():
            return handle  # type: ignore[return-value]
        return io.BufferedReader(handle)  # type: ignore[arg-type]

    return opener


def _tar_members(path: Path) -> Iterator[InputFile]:
    mtime = path.stat().st_mtime_ns
    for name, size, opener in tar_members(path, _decompress):
        shown = f"{path}!{name}" if name else str(path)
        yield InputFile(shown, size, lambda o=opener: io.BufferedReader(o()), mtime, in_stream=True)


def _encrypted(path: Path, member: str) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        raise OSError(f"{path}!{member} is encrypted; extract it with its password first")

    return opener


def discover(paths: list[str | Path], exclude: Path | None = None) -> Iterator[InputFile]:
    """Yield every input file under ``paths`` in a stable order; user error for a missing path."""
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise WinnowError(f"{path}: no such file or folder")
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            if exclude is not None and exclude.resolve() in file.resolve().parents:
                continue
            if any(part.startswith(".") for part in file.relative_to(path).parts) or file.name in _SKIP_NAMES:
                continue
            if zipfile.is_zipfile(file) and file.suffix.lower() not in {".gz", ".xz", ".bz2"}:
                yield from _zip_members(file)
            elif is_tar(file):
                yield from _tar_members(file)
            else:
                stat = file.stat()
                yield InputFile(str(file), stat.st_size, lambda f=file: open(f, "rb"), stat.st_mtime_ns)

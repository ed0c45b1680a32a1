"""Read a byte stream in large blocks that end on a line boundary, counting lines as it goes."""

from __future__ import annotations

import gzip
import zlib
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from winnow.sources.base import ParseContext

BLOCK_SIZE = 16 << 20
MAX_LINE = 64 << 20


def read_blocks(stream: BinaryIO, ctx: ParseContext, block_size: int = BLOCK_SIZE) -> Iterator[tuple[bytes, int]]:
    """Yield ``(block, first_line)``; every block but the last ends with a newline.

    A compressed stream that ends early (a file cut off mid-copy) yields what was read and
    leaves a warning; a single line longer than ``MAX_LINE`` is skipped with a warning.
    """
    carry = b""
    line = 1
    skipping = False
    while True:
        try:
            data = stream.read(block_size)
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile, OSError) as exc:
            ctx.warn(None, f"compressed data ends early or is corrupt after line {line - 1}: {exc}")
            data = b""
        if not data:
            if carry and not skipping:
                yield carry, line
            return
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE and not skipping:
                ctx.warn(line, f"line longer than {MAX_LINE} bytes, skipped", buf[:120])
                skipping = True
            carry = b"" if skipping else buf
            continue
        if skipping:
            first = buf.find(b"\n")
            line += 1
            skipping = False
            buf, cut = buf[first + 1 :], cut - first - 1
            if cut < 0:
                carry = buf
                continue
        block, carry = buf[: cut + 1], buf[cut + 1 :]
        yield block, line
        line += block.count(b"\n")


def split_lines(block: bytes) -> list[bytes]:
    """Split a block into lines without their newline (a trailing ``\\r`` is dropped too)."""
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def count_lines(block: bytes) -> int:
    """Number of lines in a block, counting a last line without a newline."""
    n = block.count(b"\n")
    return n + (1 if block and not block.endswith(b"\n") else 0)


def line_numbers(first: int, n: int) -> np.ndarray:
    """Consecutive 1-based line numbers starting at ``first``."""
    return np.arange(first, first + n, dtype=np.int64)

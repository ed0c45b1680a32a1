"""Work on the blocks of a log ahead of the one being turned into rows, on worker threads.

The column-wise work of a block (Arrow's JSON reader, regular expressions, compute kernels) runs outside
Python's global lock, so a few blocks prepared at once keep the cores busy while the parsing thread turns the
previous block into rows. Blocks come out in order; at most ``workers`` are in flight beyond the one in hand,
so memory stays bounded whatever the file's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
B = TypeVar("B")  # a block: its bytes, or what a source reads ahead with them (Zeek TSV: the header in force)


def ahead(blocks: Iterable[tuple[B, int]], work: Callable[[B], T], workers: int) -> Iterator[tuple[B, int, T]]:
    """``(block, first line, work(block))`` of every block, in order; ``work`` runs on ``workers`` threads
    (none: on the calling thread)."""
    if workers < 1:
        for block, first in blocks:
            yield block, first, work(block)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="winnow-parse") as pool:
        pending: deque[tuple[B, int, Future[T]]] = deque()
        for block, first in blocks:
            pending.append((block, first, pool.submit(work, block)))
            if len(pending) > workers:
                done, line, future = pending.popleft()
                yield done, line, future.result()
        while pending:
            done, line, future = pending.popleft()
            yield done, line, future.result()

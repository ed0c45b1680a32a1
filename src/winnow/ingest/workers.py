"""Work on numbered items in worker processes, the results handed back in order (``ingest.workers``).

Python parses logs on one core at a time (the GIL), so an ingest of many files parses several at
once in forked worker processes. A worker inherits what the run knows (the list of files, the
settings, the sources) from the fork, so only an item's number goes to it and only its result
comes back. The caller consumes results in item order, so what it does with them (the manifest,
the commits) happens exactly as in a run on one process.

Items go to workers in batches (many small files cost one round trip); at most ``workers``
batches are worked on at once, and at most ``workers`` more finished ones wait for their turn, so
the results held back are bounded (see :func:`in_order`). A worker dies with the run:
it asks the kernel for SIGKILL when its parent dies (Linux) and closes its copies of the
descriptors of ``close_paths`` (the lake's lock), so a killed ingest never leaves a worker holding
the lake.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winnow.errors import WinnowError

#: the work of each pool by its key: inherited by the pool's forked workers, never pickled
_WORK: dict[int, Callable[[int], Any]] = {}
_KEYS = itertools.count()


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """True where worker processes can be forked (they inherit the run instead of unpickling it)."""
    return "fork" in multiprocessing.get_all_start_methods()


def in_order(count: int, work: Callable[[int], Any], batches: list[list[int]], workers: int,
             close_paths: tuple[Path, ...] = ()) -> Iterator[tuple[int, Any]]:
    """``(number, result)`` for ``number`` in ``0 .. count - 1``, in order.

    ``result`` is ``work(number)`` run in a worker process for the items of ``batches`` (each batch
    goes to one worker, which works on its items in order), else None: the caller does that item
    itself. An exception of ``work`` is raised here, at the item's turn; a worker that died (killed,
    out of memory) is a user error. Closing the iterator early stops every worker.

    Args:
        count: how many items.
        work: the work of one item; a result must pickle (it comes back through a pipe).
        batches: the items sent to workers, in batches (many small items cost one round trip), sorted
            by their first item (a batch is sent before those that start after it).
        workers: worker processes, at most.
        close_paths: files whose inherited descriptors each worker closes (a lock it must not hold).
    """
    key = next(_KEYS)
    _WORK[key] = work
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start,
                               initargs=(os.getpid(), tuple(str(p.resolve()) for p in close_paths)))
    batch_of = {number: i for i, batch in enumerate(batches) for number in batch}
    futures: dict[int, Future] = {}
    results: dict[int, Any] = {}
    finished = False
    try:
        ahead = 0
        for number in range(count):
            while ahead < len(batches) and len(futures) < 2 * workers:  # working, and done waiting their turn
                futures[ahead] = pool.submit(_call, key, batches[ahead])
                ahead += 1
            if number not in batch_of:
                yield number, None
                continue
            if number not in results:
                try:
                    results.update(zip(batches[batch_of[number]], futures.pop(batch_of[number]).result(),
                                       strict=True))
                except BrokenProcessPool:
                    raise WinnowError("an ingest worker process died (out of memory? killed?); run the ingest "
                                      "again, with --workers 1 to parse one file at a time") from None
            result = results.pop(number)
            if isinstance(result, _Raised):
                raise result.error
            yield number, result
        finished = True
    finally:
        _WORK.pop(key, None)
        if not finished:  # an error, or the caller stopped: what the workers do now is lost anyway
            for future in futures.values():
                future.cancel()
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError):
                    process.kill()
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Raised:
    """What ``work`` raised on an item: raised again at that item's turn (the items before it are kept)."""

    error: BaseException


def in_turn(count: int, batches: list[list[int]], results: Iterator[list[Any]]) -> Iterator[tuple[int, Any]]:
    """:func:`in_order`'s answer from batch results computed elsewhere (Spark tasks), arriving in batch order.

    ``results`` yields each batch's list of results (:func:`run_batch`), in the order of ``batches``.
    """
    batch_of = {number: i for i, batch in enumerate(batches) for number in batch}
    held: dict[int, Any] = {}
    arrived = 0
    for number in range(count):
        if number not in batch_of:
            yield number, None
            continue
        while number not in held:  # its batch starts at or before it: it arrives before any later one
            held.update(zip(batches[arrived], next(results), strict=True))
            arrived += 1
        result = held.pop(number)
        if isinstance(result, _Raised):
            raise result.error
        yield number, result


def _call(key: int, batch: list[int]) -> list[Any]:
    return run_batch(_WORK[key], batch)


def run_batch(work: Callable[[int], Any], batch: list[int]) -> list[Any]:
    """``work(number)`` for the items of a batch, in order; an exception is kept for its item's turn (in_order)."""
    out: list[Any] = []
    for number in batch:
        try:
            out.append(work(number))
        except Exception as exc:
            exc.add_note("in an ingest worker process:\n" + "".join(traceback.format_exc()))
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            return out + [_Raised(exc)] + [None] * (len(batch) - len(out) - 1)  # the rest are never reached
    return out


def _start(parent: int, close_paths: tuple[str, ...]) -> None:
    """Set up a worker: die with the run, leave Ctrl-C to it, and hold none of its locks."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the run died while this worker started
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run stops its workers itself
    if close_paths and os.path.isdir("/proc/self/fd"):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError, ValueError):
                if os.readlink(f"/proc/self/fd/{fd}") in close_paths:
                    os.close(int(fd))

"""Compaction: merge a writer's many small parts of one table and day into one, through the commit protocol.

A writer that publishes often (the NetFlow collector: a part per flush) registers each part it
publishes with a :class:`Compactor`. Parts are merged by level: ``parts`` small parts of level 0
(as published) become one part of level 1, ``parts`` of those one of level 2, and so on, so a row is
rewritten once per level (a logarithmic number of times). Only parts smaller than ``target_bytes /
parts`` take part, so no merge reads more than ``target_bytes``; larger parts are left as they are.

A merge is one commit (:mod:`winnow.lake.commit`): the merged part is moved in, the parts it
replaces are removed and every manifest entry that named them is recorded again naming the merged
part, so the manifest keeps listing where each published file's rows are and a re-published batch
is still recognized. The merged part is fsynced before its commit (the parts it replaces are
deleted) and named ``L<level>-<hash of its inputs' names>.parquet``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.lake.commit import Commit, publish
from winnow.lake.conform import conform, layout, parquet_options
from winnow.lake.layout import Lake
from winnow.lake.manifest import Manifest
from winnow.lake.writer import BUFFER_BYTES, ROW_GROUP_ROWS


def level(part: str | Path) -> int:
    """The merge level of a part from its name: 0 as published, ``L<n>-...`` after n merges."""
    name = Path(part).name
    head = name.split("-", 1)[0]
    return int(head[1:]) if name.startswith("L") and head[1:].isdigit() else 0


def merge(lake: Lake, parts: list[str], run_id: str, manifest: Manifest) -> str:
    """Merge published ``parts`` (paths relative to the lake, one table and day) into one; return its path.

    The rows are streamed part by part and row group by row group (at most about ``BUFFER_BYTES`` held).
    """
    names = sorted(parts)
    table, day = Path(names[0]).parts[0], Path(names[0]).parent.name[len("day="):]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:32]
    final = lake.partition(table, day) / f"L{1 + max(level(p) for p in names)}-{digest}.parquet"
    tmp = lake.tmp_dir / run_id / f"compact~{table}~{day}~{digest}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    held: list[pa.Table] = []
    with pq.ParquetWriter(tmp, layout(table)[0], **parquet_options(table)) as writer:
        for name in names:
            source = pq.ParquetFile(lake.root / name)
            for group in range(source.num_row_groups):
                held.append(conform(table, source.read_row_group(group), {}))
                if sum(t.nbytes for t in held) >= BUFFER_BYTES:
                    writer.write_table(pa.concat_tables(held), row_group_size=ROW_GROUP_ROWS)
                    held = []
        if held:
            writer.write_table(pa.concat_tables(held), row_group_size=ROW_GROUP_ROWS)
    with open(tmp, "rb") as fh:  # on disk before the parts it replaces are deleted
        os.fsync(fh.fileno())
    merged, old = str(final.relative_to(lake.root)), set(names)
    entries = [dataclasses.replace(e, parts=list(dict.fromkeys(merged if p in old else p for p in e.parts)))
               for e in manifest.entries().values() if old.intersection(e.parts)]
    publish(lake, Commit(moves=[(tmp, final)], removes=[lake.root / n for n in names], entries=entries), manifest)
    return merged


class Compactor:
    """The parts one writer published, by table and day, merged level by level when enough accumulate.

    Args:
        lake: the lake written.
        run_id: the writer's run id (its temporary folder).
        parts: parts of one level merged at once.
        target_bytes: most bytes one merge reads; parts of ``target_bytes / parts`` bytes or more are final.
    """

    def __init__(self, lake: Lake, run_id: str, parts: int, target_bytes: int) -> None:
        self.lake, self.run_id = lake, run_id
        self.parts, self.small = max(2, parts), target_bytes // max(2, parts)
        self._known: dict[tuple[str, str], set[str]] = {}

    def add(self, part: str) -> None:
        """Register a published part (path relative to the lake); big parts are not kept."""
        path = self.lake.root / part
        try:
            small = path.suffix == ".parquet" and path.stat().st_size < self.small
        except FileNotFoundError:  # merged away already
            return
        if small:
            self._known.setdefault((Path(part).parts[0], path.parent.name), set()).add(part)

    def compact(self, manifest: Manifest, final: bool = False) -> int:
        """Merge each level's parts ``parts`` at a time (with ``final``, any two or more); return how many merges.

        Levels are merged in ascending order, so a merge that completes a higher level is merged on in
        the same call. The caller holds the lake's lock; ``manifest`` is the lake's, read under it.
        """
        merges = 0
        for key in sorted(self._known):
            known = self._known[key]
            known.intersection_update([p for p in known if (self.lake.root / p).exists()])  # merged by another run
            lvl = 0
            while levels := sorted(n for n in {level(p) for p in known} if n >= lvl):
                lvl = levels[0]
                group = sorted(p for p in known if level(p) == lvl)
                while len(group) >= self.parts or (final and len(group) >= 2):
                    batch, group = group[:self.parts], group[self.parts:]
                    known.difference_update(batch)
                    self.add(merge(self.lake, batch, self.run_id, manifest))
                    merges += 1
                lvl += 1
        for key in [k for k, v in self._known.items() if not v]:
            del self._known[key]
        if merges:
            shutil.rmtree(self.lake.tmp_dir / self.run_id, ignore_errors=True)  # empty: every merge was published
        return merges

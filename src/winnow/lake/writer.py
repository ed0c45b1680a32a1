"""Write one source file's rows into temporary Parquet parts, one per (table, day)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.config import current
from winnow.lake.conform import conform, layout, parquet_options
from winnow.lake.layout import Lake

_US_PER_DAY = 86_400_000_000
#: rows of one (table, day) are kept in memory up to this many bytes, then written as one row group
BUFFER_BYTES = 32 << 20
#: at most this many bytes are buffered over all (table, day) parts of a file (a log spanning many days)
TOTAL_BUFFER_BYTES = 128 << 20
ROW_GROUP_ROWS = 1 << 20


def _day_name(day_number: int) -> str:
    return str(np.datetime64(int(day_number), "D"))


class FileWriter:
    """Streams batches of one source file into ``_tmp`` parts, split by table and UTC day.

    Rows of each (table, day) are buffered in memory and written as one row group when
    :data:`BUFFER_BYTES` are held or at :meth:`close`, so a part usually has one row group and
    small files open and close one Parquet writer per part, nothing more.

    Args:
        lake: the lake being written.
        part: name of this file's temporary parts (unique within the ingest run); the final
            names derive from the content hash given to :meth:`close`, so a re-run after a
            crash overwrites rather than duplicates.
        ingest_id: id of this ingest run.
        source_file: display name of the source file.
        source_format: registered source name.
        sensor: sensor name for rows that do not carry one.
    """

    #: temporary folders known to exist (per process): one mkdir per ingest run, not one per part
    _made: set[Path] = set()

    def __init__(self, lake: Lake, part: str, ingest_id: str, source_file: str, source_format: str,
                 sensor: str | None = None) -> None:
        self.lake, self.part, self.ingest_id = lake, part, ingest_id
        self.source_file, self.source_format, self.sensor = source_file, source_format, sensor
        self._constants = {"_source_file": source_file, "_source_format": source_format, "_ingest_id": ingest_id}
        config = current()
        self._compression = parquet_options(config=config)["compression"]
        self._buffer = config.get("ingest.write_buffer_bytes")
        self._writers: dict[tuple[str, str], tuple[pq.ParquetWriter, pa.NativeFile, Path]] = {}
        self._buffers: dict[tuple[str, str], list[pa.Table]] = {}
        self._buffered: dict[tuple[str, str], int] = {}
        self._total = 0  # sum of _buffered: kept, not summed on every append (a file may touch hundreds of days)
        self.rows: dict[str, int] = {}

    def _tmp_path(self, table: str, day: str) -> Path:
        # flat: one folder per ingest run, not one per table and day (fewer mkdir/rmdir per small file)
        return self.lake.tmp_dir / self.ingest_id / f"{self.part}~{table}~{day}.parquet"

    def final_path(self, table: str, day: str, sha256: str) -> Path:
        return self.lake.partition(table, day) / f"{sha256[:32]}.parquet"

    def write(self, table_name: str, data: pa.Table) -> None:
        """Add provenance, conform to the declared schema and append to the right day parts."""
        n = data.num_rows
        if n == 0:
            return
        out = conform(table_name, data, self._constants, self.sensor)
        micros = pc.cast(out[layout(table_name)[2]], pa.int64()).to_numpy(zero_copy_only=False)
        days = np.floor_divide(micros, _US_PER_DAY)
        first, last = int(days.min()), int(days.max())
        if first == last:
            self._append(table_name, _day_name(first), out)
        else:  # one sort, then a slice per day (not one filter pass over the batch per day)
            order = np.argsort(days, kind="stable")
            out, days = out.take(pa.array(order)), days[order]
            bounds = np.flatnonzero(np.diff(days)) + 1
            for start, stop in zip(np.r_[0, bounds], np.r_[bounds, n], strict=True):
                self._append(table_name, _day_name(days[start]), out.slice(int(start), int(stop - start)))
        self.rows[table_name] = self.rows.get(table_name, 0) + n

    def _append(self, table_name: str, day: str, data: pa.Table) -> None:
        key = (table_name, day)
        self._buffers.setdefault(key, []).append(data)
        self._buffered[key] = self._buffered.get(key, 0) + data.nbytes
        self._total += data.nbytes
        if self._buffered[key] >= BUFFER_BYTES:
            self._flush(key)
        elif self._total >= TOTAL_BUFFER_BYTES:
            for other in list(self._buffers):
                self._flush(other)

    def _flush(self, key: tuple[str, str]) -> None:
        """Write the buffered rows of one (table, day) to its part (opened on first use)."""
        tables = self._buffers.pop(key, [])
        self._total -= self._buffered.pop(key, 0)
        if not tables:
            return
        if key not in self._writers:
            path = self._tmp_path(*key)
            if path.parent not in FileWriter._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                FileWriter._made.add(path.parent)
            options = {**layout(key[0])[1], "compression": self._compression}
            try:
                sink = pa.output_stream(str(path), buffer_size=self._buffer)
            except OSError:  # the folder was removed since it was made (recovery, a finished run of this id)
                path.parent.mkdir(parents=True, exist_ok=True)
                sink = pa.output_stream(str(path), buffer_size=self._buffer)
            self._writers[key] = (pq.ParquetWriter(sink, tables[0].schema, **options), sink, path)
        data = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        self._writers[key][0].write_table(data, row_group_size=ROW_GROUP_ROWS)

    @property
    def buffered(self) -> int:
        """Bytes of Arrow data held in memory, not yet written."""
        return self._total

    @property
    def in_memory(self) -> bool:
        """True while every row written so far is still buffered (no part opened): see :meth:`take`."""
        return not self._writers

    def take(self) -> dict[tuple[str, str], list[pa.Table]]:
        """Hand over the buffered rows, by (table, day), to be written with other files' (:class:`SharedParts`)."""
        buffers, self._buffers = self._buffers, {}
        self._buffered.clear()
        self._total = 0
        return buffers

    def close(self, sha256: str) -> list[tuple[Path, Path]]:
        """Write what is buffered, close every part; return (temporary, final) path pairs for publication."""
        for key in list(self._buffers):
            self._flush(key)
        moves = []
        for (table_name, day), (writer, sink, path) in sorted(self._writers.items()):
            writer.close()
            sink.close()  # the buffered end of the part (the Parquet writer does not close a stream it was given)
            moves.append((path, self.final_path(table_name, day, sha256)))
        self._writers.clear()
        return moves

    def abort(self) -> None:
        """Drop what is buffered; close and delete every temporary part."""
        self._buffers.clear()
        self._buffered.clear()
        self._total = 0
        for path, _ in self.close(""):
            path.unlink(missing_ok=True)


class SharedParts:
    """The rows of several small files, written as one part per (table, day) for all of them.

    A small file costs one Parquet writer per (table, day) it touches, about as much as parsing it;
    files committed together (see :class:`winnow.ingest.pending.PendingCommits`) share parts instead.
    The final name of a shared part derives from the content hashes of its files, in order.

    Args:
        lake: the lake being written.
        ingest_id: id of this ingest run (the temporary folder).
    """

    def __init__(self, lake: Lake, ingest_id: str) -> None:
        self.lake, self.ingest_id = lake, ingest_id
        self._buffers: dict[tuple[str, str], list[pa.Table]] = {}
        self._shas: list[str] = []

    def add(self, sha256: str, buffers: dict[tuple[str, str], list[pa.Table]]) -> list[tuple[str, str]]:
        """Add one file's rows (from :meth:`FileWriter.take`); return the (table, day) keys it has rows in."""
        self._shas.append(sha256)
        for key, tables in buffers.items():
            self._buffers.setdefault(key, []).extend(tables)
        return sorted(buffers)

    def close(self) -> dict[tuple[str, str], tuple[Path, Path]]:
        """Write every part; return (temporary, final) paths by (table, day), and start afresh."""
        import hashlib

        buffers, shas = self._buffers, self._shas
        self._buffers, self._shas = {}, []
        name = hashlib.sha256("\n".join(shas).encode()).hexdigest()[:32]
        folder = self.lake.tmp_dir / self.ingest_id
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        config = current()  # read once per commit, not once per part
        buffer = config.get("ingest.write_buffer_bytes")
        options: dict[str, dict] = {}
        for (table_name, day), tables in sorted(buffers.items()):
            if table_name not in options:
                options[table_name] = parquet_options(table_name, config)
            tmp = folder / f"shared-{name}~{table_name}~{day}.parquet"
            data = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            with pa.output_stream(str(tmp), buffer_size=buffer) as sink:
                pq.write_table(data, sink, row_group_size=ROW_GROUP_ROWS, **options[table_name])
            out[(table_name, day)] = (tmp, self.lake.partition(table_name, day) / f"{name}.parquet")
        return out

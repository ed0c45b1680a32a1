"""Write one source file's rows into temporary Parquet parts, one per (table, day)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.lake.layout import Lake
from winnow.schema import get_table

_US_PER_DAY = 86_400_000_000
COMPRESSION = "snappy"
#: unique per row: dictionary encoding would only be tried and abandoned
HIGH_CARDINALITY = frozenset({"uid", "query", "uri", "referrer", "cert_chain_fps", "answers", "ttls", "_line", "ts"})
#: columns whose min/max statistics prune scans (time ranges, address and port look-ups)
STATISTICS = frozenset({"ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "query", "server_name", "host"})


def _encoding(schema: pa.Schema) -> dict:
    """Parquet options: dictionaries for repetitive text, statistics where they prune (about 30 % faster)."""
    dictionary = [f.name for f in schema if pa.types.is_string(f.type) and f.name not in HIGH_CARDINALITY]
    dictionary += [f.name for f in schema if f.name in ("dst_port", "qtype", "rcode", "status")]
    return {"use_dictionary": dictionary, "write_statistics": [f.name for f in schema if f.name in STATISTICS]}


def _day_name(day_number: int) -> str:
    return str(np.datetime64(int(day_number), "D"))


class FileWriter:
    """Streams batches of one source file into ``_tmp`` parts, split by table and UTC day.

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

    def __init__(self, lake: Lake, part: str, ingest_id: str, source_file: str, source_format: str,
                 sensor: str | None = None) -> None:
        self.lake, self.part, self.ingest_id = lake, part, ingest_id
        self.source_file, self.source_format, self.sensor = source_file, source_format, sensor
        self._writers: dict[tuple[str, str], tuple[pq.ParquetWriter, Path]] = {}
        self.rows: dict[str, int] = {}

    def _tmp_path(self, table: str, day: str) -> Path:
        # flat: one folder per ingest run, not one per table and day (fewer mkdir/rmdir per small file)
        return self.lake.tmp_dir / self.ingest_id / f"{self.part}~{table}~{day}.parquet"

    def final_path(self, table: str, day: str, sha256: str) -> Path:
        return self.lake.partition(table, day) / f"{sha256[:32]}.parquet"

    def write(self, table_name: str, data: pa.Table) -> None:
        """Add provenance, conform to the declared schema and append to the right day parts."""
        table = get_table(table_name)
        n = data.num_rows
        if n == 0:
            return
        columns = {}
        for col in table.all_columns:
            if col.name in data.column_names:
                columns[col.name] = data[col.name]
            elif col.name == "_source_file":
                columns[col.name] = pa.repeat(pa.scalar(self.source_file, pa.string()), n)
            elif col.name == "_source_format":
                columns[col.name] = pa.repeat(pa.scalar(self.source_format, pa.string()), n)
            elif col.name == "_ingest_id":
                columns[col.name] = pa.repeat(pa.scalar(self.ingest_id, pa.string()), n)
            else:
                columns[col.name] = pa.nulls(n, col.type)
        if self.sensor and "sensor" in columns:
            columns["sensor"] = pc.fill_null(columns["sensor"], self.sensor)
        out = pa.table(columns).cast(table.arrow_schema)
        micros = pc.cast(out[table.time_column], pa.int64()).to_numpy()
        days = np.floor_divide(micros, _US_PER_DAY)
        first, last = int(days.min()), int(days.max())
        if first == last:
            self._append(table_name, _day_name(first), out)
        else:
            for day in np.unique(days):
                self._append(table_name, _day_name(day), out.filter(pa.array(days == day)))
        self.rows[table_name] = self.rows.get(table_name, 0) + n

    def _append(self, table_name: str, day: str, data: pa.Table) -> None:
        key = (table_name, day)
        if key not in self._writers:
            path = self._tmp_path(table_name, day)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, data.schema, compression=COMPRESSION, **_encoding(data.schema))
            self._writers[key] = (writer, path)
        self._writers[key][0].write_table(data, row_group_size=1 << 20)

    def close(self, sha256: str) -> list[tuple[Path, Path]]:
        """Close every part; return (temporary, final) path pairs for publication."""
        moves = []
        for (table_name, day), (writer, path) in sorted(self._writers.items()):
            writer.close()
            moves.append((path, self.final_path(table_name, day, sha256)))
        self._writers.clear()
        return moves

    def abort(self) -> None:
        """Close and delete every temporary part."""
        for path, _ in self.close(""):
            path.unlink(missing_ok=True)

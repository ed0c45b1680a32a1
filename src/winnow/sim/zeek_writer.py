"""Write time-sorted Zeek logs from many host chunks with bounded memory.

Each (day, host chunk) is generated in memory as numeric frames, sorted by `ts` and spilled to an
Arrow IPC file per log with exactly 24 record batches, one per UTC hour (rows a few milliseconds
before midnight or after it stay in the first/last hour of their day). Writing a day's log then
reads hour `h` from every chunk file, merges and sorts those rows, renders them as
text in slices of `WRITE_ROWS` and appends them to the log: peak memory is about one hour of one
log, whatever the host count.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from winnow.sim.context import HOUR, day_start_us
from winnow.sim.zeek_format import FIELDS, Formatter

WRITE_ROWS = 500_000
_CSV = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none", batch_size=65536)


def header(log: str, opened: str) -> str:
    """The eight `#` lines Zeek writes at the top of a log."""
    names, types = zip(*FIELDS[log], strict=True)
    return "".join(
        [
            "#separator \\x09\n",
            "#set_separator\t,\n",
            "#empty_field\t(empty)\n",
            "#unset_field\t-\n",
            f"#path\t{log}\n",
            f"#open\t{opened}\n",
            "#fields\t" + "\t".join(names) + "\n",
            "#types\t" + "\t".join(types) + "\n",
        ]
    )


def _stamp(us: int) -> str:
    return dt.datetime.fromtimestamp(us // 1_000_000, dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")


def _sort(table: pa.Table) -> pa.Table:
    ts = table["ts"].to_numpy()
    order = np.argsort(ts, kind="stable")
    return table if np.all(order[1:] > order[:-1]) else table.take(pa.array(order))


class HourSpill:
    """Spill files under `tmp`, merged into `out/zeek/<date>/<log>.log`."""

    def __init__(self, tmp: Path, start: str) -> None:
        self.tmp = tmp
        self.start = start
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)

    def _path(self, log: str, day: int, chunk: int) -> Path:
        return self.tmp / f"d{day:04d}" / log / f"c{chunk:06d}.arrow"

    def spill(self, log: str, day: int, chunk: int, table: pa.Table) -> None:
        """Sort one chunk's rows of a log by ts and store them as 24 hourly batches."""
        table = _sort(table).combine_chunks()
        ts = table["ts"].to_numpy()
        hour = np.clip((ts - day_start_us(self.start, day)) // HOUR, 0, 23)
        bounds = np.searchsorted(hour, np.arange(25))
        path = self._path(log, day, chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.ipc.new_file(str(path), table.schema) as writer:
            for h in range(24):
                part = table.slice(bounds[h], bounds[h + 1] - bounds[h])
                writer.write_batch(
                    pa.record_batch([col.combine_chunks() for col in part.columns], schema=table.schema)
                )

    def merge(self, log: str, day: int, out: Path, formatter: Formatter) -> int:
        """Write one day's log from every chunk's spill; returns the number of data rows."""
        files = sorted((self.tmp / f"d{day:04d}" / log).glob("c*.arrow"))
        sources = [pa.OSFile(str(f)) for f in files]
        readers = [pa.ipc.open_file(src) for src in sources]
        day0 = day_start_us(self.start, day)
        rows = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as f:
            f.write(header(log, _stamp(day0)).encode())
            for h in range(24):
                batches = [r.get_batch(h) for r in readers]
                batches = [b for b in batches if b.num_rows]
                if not batches:
                    continue
                table = _sort(pa.Table.from_batches(batches))
                del batches
                rows += table.num_rows
                for lo in range(0, table.num_rows, WRITE_ROWS):
                    pcsv.write_csv(formatter.format(log, table.slice(lo, WRITE_ROWS)), f, _CSV)
            f.write(f"#close\t{_stamp(day0 + 24 * HOUR)}\n".encode())
        for src in sources:
            src.close()
        return rows

    def cleanup(self) -> None:
        """Remove the spill directory."""
        shutil.rmtree(self.tmp, ignore_errors=True)

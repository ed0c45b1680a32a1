"""The dataclasses a table declaration is made of."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
EXTRA = pa.string()  # a JSON object as text: portable across engines


@dataclass(frozen=True)
class Column:
    """One column of a normalized table.

    Args:
        name: flat snake_case name.
        type: Arrow type as stored in Parquet.
        doc: what the column holds.
        ecs: the Elastic Common Schema field it corresponds to ("" if none).
        ocsf: the OCSF attribute it corresponds to ("" if none).
        check: what a valid value is, checked at ingest ("" none, "port" 0-65535, "address" an IPv4
            or IPv6 address, "count" not negative); an invalid value is stored as null with a warning.
    """

    name: str
    type: pa.DataType
    doc: str
    ecs: str = ""
    ocsf: str = ""
    check: str = ""


PROVENANCE: tuple[Column, ...] = (
    Column("extra", EXTRA, "source fields with no column of their own: a JSON object of text values",
           "", "unmapped"),
    Column("sensor", pa.string(), "sensor or worker that produced the record",
           "observer.name", "metadata.product.name"),
    Column("_source_file", pa.string(), "file the row came from (archive!member for zip members)",
           "log.file.path", "metadata.log_name"),
    Column("_source_format", pa.string(), "registered source that parsed it", "event.module", "metadata.log_provider"),
    Column("_line", pa.int64(), "1-based line number in the (decompressed) source file", "log.offset", ""),
    Column("_ingest_id", pa.string(), "ingest run that wrote the row", "", "metadata.uid"),
)


@dataclass(frozen=True)
class Table:
    """A normalized table: data columns declared here, provenance columns appended automatically."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    time_column: str = "ts"
    provenance: tuple[Column, ...] = field(default=PROVENANCE)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.provenance

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.all_columns])

    @property
    def data_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def directory(self) -> str:
        """Folder name of the table in the lake."""
        return self.name


#: the two ends of a connection, shared by every table that has them
ENDPOINTS: tuple[Column, ...] = (
    Column("src_ip", pa.string(), "originator address", "source.ip", "src_endpoint.ip", check="address"),
    Column("src_port", pa.int32(), "originator port", "source.port", "src_endpoint.port", check="port"),
    Column("dst_ip", pa.string(), "responder address", "destination.ip", "dst_endpoint.ip", check="address"),
    Column("dst_port", pa.int32(), "responder port", "destination.port", "dst_endpoint.port", check="port"),
)

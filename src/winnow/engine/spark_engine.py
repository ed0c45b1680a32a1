"""Apache Spark: local mode (``spark``) or a cluster (``spark://HOST:PORT``, ``yarn``, ...), extra ``[spark]``.

The session takes the ``spark.shuffle_partitions`` and ``spark.driver_memory`` settings in force
when it starts (one session per master URL per process).
"""

from __future__ import annotations

import os
import sys
import threading

from winnow.config import current
from winnow.engine.base import Engine
from winnow.errors import MissingExtraError, WinnowError
from winnow.lake import Lake

_LOCK = threading.Lock()
_SESSIONS: dict[str, object] = {}


def spark_session(url: str = "spark"):
    """One SparkSession per master URL per process (JVM start-up costs seconds)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MissingExtraError("pyspark", "spark", "the Spark engine") from None
    master = "local[*]" if url == "spark" else url
    config = current()
    with _LOCK:
        if master not in _SESSIONS:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run our interpreter
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
            builder = (
                SparkSession.builder.master(master)
                .appName("winnow")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", str(config.get("spark.shuffle_partitions")))
                .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                .config("spark.driver.memory", str(config.get("spark.driver_memory")))
                .config("spark.sql.parquet.mergeSchema", "true")
            )
            try:
                session = builder.getOrCreate()
            except Exception as exc:  # the JVM failed to start: Java missing or wrong
                raise WinnowError(f"could not start Spark ({exc}); Spark needs Java 17 (JAVA_HOME)") from None
            session.sparkContext.setLogLevel("ERROR")
            _SESSIONS[master] = session
        return _SESSIONS[master]


class SparkEngine(Engine):
    """The lake's tables as temporary views of a SparkSession."""

    name = "spark"

    @classmethod
    def open(cls, lake: Lake, url: str = "spark") -> SparkEngine:
        """The Ibis PySpark backend over the session of master ``url`` (``spark``: ``local[*]``)."""
        try:
            import ibis
        except ImportError:
            raise MissingExtraError("ibis-framework[pyspark]", "spark", "the Spark engine") from None
        session = spark_session(url)
        return cls(lake, ibis.pyspark.connect(session))

    def _register(self, table: str, view: str):
        session = self.backend._session
        frame = session.read.option("basePath", str(self.lake.table_dir(table))).parquet(
            str(self.lake.table_dir(table) / "day=*")
        )
        frame.drop("day").createOrReplaceTempView(view)
        return self.backend.table(view)

    def map_groups(self, expr, keys, values, func, schema):
        import pyarrow as pa

        from winnow.engine.groups import apply_to_batch, spark_type, to_table

        session = self.backend._session
        self.backend._run_pre_execute_hooks(expr)  # registers memtables the expression uses
        frame = session.sql(self.backend.compile(expr))
        ddl = ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in schema)
        names = list(schema.names)

        def per_group(pdf):
            import pandas as pd

            table = pa.Table.from_pandas(pdf, preserve_index=False)
            grouped = table.group_by(keys, use_threads=False).aggregate([(v, "list") for v in values])
            grouped = grouped.rename_columns({f"{v}_list": v for v in values})
            rows = apply_to_batch(grouped.combine_chunks().to_batches()[0], keys, values, func)
            return pd.DataFrame(rows, columns=names)

        result = frame.select(*keys, *values).groupBy(*keys).applyInPandas(per_group, ddl)
        return to_table(result.toArrow().to_pylist(), schema)

"""Apache Spark: local mode (``spark``) or a cluster (``spark://HOST:PORT``, ``yarn``, ...), extra ``[spark]``.

The session takes the ``spark.shuffle_partitions`` and ``spark.driver_memory`` settings in force
when it starts (one session per master URL per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from winnow.config import current
from winnow.engine.base import Engine, _utc
from winnow.errors import MissingExtraError, WinnowError
from winnow.lake import Lake

_LOCK = threading.Lock()
_SESSIONS: dict[str, object] = {}


def spark_session(url: str = "spark"):
    """One SparkSession per master URL per process (JVM start-up costs seconds).

    Settings read from the configuration in force: ``spark.shuffle_partitions``,
    ``spark.driver_memory`` and ``spark.verbose`` (see :func:`start_quietly`).
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MissingExtraError("pyspark", "spark", "the Spark engine") from None

    master = "local[*]" if url == "spark" else url
    with _LOCK:
        if master not in _SESSIONS:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run our interpreter
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
            verbose = bool(current().get("spark.verbose"))
            try:
                session = start_quietly(spark_conf(master), verbose)
            except Exception as exc:  # the JVM failed to start: Java missing or wrong
                hint = "" if verbose else "; --set spark.verbose=true shows the JVM's own messages"
                raise WinnowError(f"could not start Spark ({exc}); Spark needs Java 17 (JAVA_HOME){hint}") from None
            if not verbose:
                session.sparkContext.setLogLevel("ERROR")
            _SESSIONS[master] = session
        return _SESSIONS[master]


def spark_conf(master: str):
    """A session's SparkConf, with ``spark.shuffle_partitions`` and ``spark.driver_memory`` from the configuration."""
    from pyspark import SparkConf

    config = current()
    return SparkConf().setMaster(master).setAppName("winnow").setAll([
        ("spark.ui.enabled", "false"),
        ("spark.ui.showConsoleProgress", "false"),
        ("spark.sql.session.timeZone", "UTC"),
        ("spark.sql.shuffle.partitions", str(config.get("spark.shuffle_partitions"))),
        ("spark.sql.execution.arrow.pyspark.enabled", "true"),
        ("spark.driver.memory", str(config.get("spark.driver_memory"))),
        ("spark.sql.parquet.mergeSchema", "true"),
    ])


def start_quietly(conf, verbose: bool = False):
    """Start a SparkSession whose JVM writes nothing to this process's standard output.

    pyspark starts the JVM (``spark-submit``) as a child process that inherits file descriptors
    1 and 2, so its start-up banner (``WARNING: Using incubator modules``, the log4j profile
    lines), its log4j output and whatever its Python workers print would land in our output.
    Here the JVM is launched with both its standard output and its standard error sent to
    /dev/null, or, when ``verbose``, both to our standard error: standard output is left to the
    command. A JVM already running (an existing SparkContext, or ``PYSPARK_GATEWAY_PORT`` set
    by ``spark-submit``) is used as it is.
    """
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        target = 2 if verbose else subprocess.DEVNULL  # 2: our standard error, whatever sys.stderr is now
        gateway = launch_gateway(conf, popen_kwargs={"stdout": target, "stderr": target})
        try:
            SparkContext(conf=conf, gateway=gateway)
        except BaseException:
            gateway.shutdown()
            raise
    return SparkSession.builder.config(conf=conf).getOrCreate()


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

    dialect = "pyspark"

    def materialize(self, expr, name):
        session = self.backend._session
        self.backend._run_pre_execute_hooks(expr)
        session.sql(self.backend.compile(expr)).createOrReplaceTempView(name)
        session.catalog.cacheTable(name)

    def drop(self, name):
        catalog = self.backend._session.catalog
        if catalog.tableExists(name):
            catalog.uncacheTable(name)
            catalog.dropTempView(name)

    def query(self, sql):
        return _utc(self.backend._session.sql(sql).toArrow())

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


def spark_cores(url: str = "spark") -> int:
    """The tasks Spark runs at once for the session of master ``url`` (its default parallelism)."""
    return max(1, spark_session(url).sparkContext.defaultParallelism)


def spark_map_in_order(url: str, batches: list, func) -> Iterator:
    """``func(batch)`` for every batch, each a Spark task on the session of master ``url``, yielded in batch order.

    ``func`` and the batches must pickle (cloudpickle: they go to the executors) and so must each
    result (it comes back to the driver). Tasks run in waves of twice the session's parallelism;
    the next wave runs while the caller consumes this one, so at most two waves of results are held
    here. Closing the iterator early cancels the wave at work. (What ``winnow ingest --engine spark``
    uses to parse files on a cluster: see ``winnow.ingest.run``.)
    """
    context = spark_session(url).sparkContext
    size = 2 * max(1, context.defaultParallelism)
    waves = [batches[i:i + size] for i in range(0, len(batches), size)]
    group = f"winnow-ingest-{uuid.uuid4().hex[:8]}"

    def run(wave: list) -> list:
        context.setJobGroup(group, "winnow ingest", interruptOnCancel=True)
        return context.parallelize(wave, len(wave)).map(func).collect()  # one batch per task

    pool = ThreadPoolExecutor(1, thread_name_prefix="winnow-spark")
    finished = False
    try:
        future = pool.submit(run, waves[0]) if waves else None
        for i in range(len(waves)):
            results = future.result()
            future = pool.submit(run, waves[i + 1]) if i + 1 < len(waves) else None
            yield from results
        finished = True
    finally:
        if not finished:
            context.cancelJobGroup(group)
        pool.shutdown(wait=True, cancel_futures=True)

"""A read-only SQL connection over the lake: the SQL console's and the hunting verbs' sandbox.

Every lake table is a view under its lake name, both as written (``SELECT * FROM net.conn``: a
schema ``net`` with a view ``conn``) and quoted (``"net.conn"``); the findings store's ``findings``
are copied in as a table of that name (with ``ts``, the first sighting as a time, in front), a
snapshot taken when the connection opens. Then DuckDB itself is locked:

- ``enable_external_access = false`` with ``allowed_directories`` set to the lake's table folders:
  no file outside them can be read or written (``read_csv('/etc/passwd')``, ``COPY ... TO``,
  ``ATTACH``, ``INSTALL``, ``LOAD``), and not even the lake's own store or manifest;
- ``python_enable_replacements = false``: a query cannot name a Python variable of the caller;
- ``lock_configuration = true``: no ``SET`` or ``PRAGMA`` can undo the above.

On top of that, :meth:`ReadOnlySQL.run` parses the text first and runs exactly one ``SELECT``
statement (``WITH``, ``FROM``-first, ``VALUES``, ``SUMMARIZE`` and ``SHOW`` parse as one), refusing
anything else before it reaches the database.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import duckdb

from winnow.engine.base import _utc
from winnow.engine.duckdb_engine import budget, scan_sql
from winnow.errors import WinnowError
from winnow.lake import Lake

_LOCKS = (
    "SET TimeZone = 'UTC'",
    "SET enable_progress_bar = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ReadOnlySQL:
    """An in-memory DuckDB whose only data are the lake's tables, locked to read them and nothing else."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.tables: list[str] = lake.tables()
        self._con = duckdb.connect(":memory:", config={"python_enable_replacements": False})
        self._spill = budget(self._con)
        try:
            self._findings()
            self._views()
        except BaseException:
            self.close()
            raise

    def _findings(self) -> None:
        path = self.lake.findings_db
        if not path.is_file():
            return
        try:
            self._con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS store (READ_ONLY)")
        except duckdb.IOException:  # a detection is writing it: the lake's tables alone
            return
        try:
            if self._con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'store' "
                                 "AND table_name = 'findings'").fetchall()[0][0]:
                self._con.execute("CREATE TABLE findings AS SELECT TRY_CAST(first_seen AS TIMESTAMPTZ) AS ts, * "
                                  "FROM store.findings")
                self.tables.append("findings")
        finally:
            self._con.execute("DETACH store")

    def _views(self) -> None:
        con = self._con
        lake_tables = [t for t in self.tables if t != "findings"]
        for table in lake_tables:
            con.execute(f"CREATE VIEW {_quote(table)} AS {scan_sql(self.lake, table)}")
            if "." in table:
                schema, name = table.split(".", 1)
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
                con.execute(f"CREATE VIEW {_quote(schema)}.{_quote(name)} AS SELECT * FROM main.{_quote(table)}")
        folders = ", ".join("'" + (str(self.lake.table_dir(t)) + "/").replace("'", "''") + "'" for t in lake_tables)
        con.execute(f"SET allowed_directories = [{folders}]")
        for statement in _LOCKS:
            con.execute(statement)

    def columns(self, table: str) -> dict[str, str]:
        """The columns of ``table`` and their DuckDB types; a user error naming the tables when it has none."""
        if table not in self.tables:
            known = ", ".join(self.tables) or "none: ingest logs first"
            raise WinnowError(f"no table {table!r} in the lake {self.lake.root}; its tables: {known}")
        rows = self._con.execute(f"DESCRIBE {_quote(table)}").fetchall()
        return {name: kind for name, kind, *_ in rows}

    def check(self, sql: str) -> str:
        """``sql`` as one SELECT statement's text (no trailing semicolon); a one-line user error for anything else."""
        try:
            statements = self._con.extract_statements(sql)
        except duckdb.Error as exc:
            raise WinnowError(f"not valid SQL: {_first_line(exc)}") from None
        if not statements:
            raise WinnowError("no SQL statement given")
        if len(statements) > 1:
            raise WinnowError(f"one statement at a time: {len(statements)} were given")
        kind, text = statements[0].type, statements[0].query.strip().rstrip(";")
        if kind != duckdb.StatementType.SELECT:
            word = text.split(maxsplit=1)[0].upper() if text else ""
            name = word if word.isalpha() and word != "WITH" else kind.name  # INSTALL, not its type (LOAD)
            raise WinnowError(f"refused: {name} statements are not allowed; the lake is read-only here, "
                              "only SELECT (WITH, FROM, VALUES) queries run")
        return text

    def run(self, sql: str, limit: int | None = None) -> Any:
        """Run one SELECT; return at most ``limit`` rows as a pyarrow Table (timestamps UTC)."""
        text = self.check(sql)
        try:
            relation = self._con.sql(text)
            if relation is None:  # pragma: no cover - check() let only SELECTs through
                raise WinnowError("the statement returned no rows")
            if limit is not None:
                relation = relation.limit(int(limit))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
                return _utc(relation.to_arrow_table())
        except duckdb.PermissionException as exc:
            raise WinnowError(f"refused: only the lake's tables can be read ({_first_line(exc)})") from None
        except duckdb.InterruptException:  # Ctrl-C while DuckDB ran: an interruption, not a failed query
            raise KeyboardInterrupt from None
        except duckdb.OutOfMemoryException:  # the CLI names the memory setting
            raise
        except duckdb.CatalogException as exc:
            known = ", ".join(self.tables) or "none: ingest logs first"
            raise WinnowError(f"query failed: {_first_line(exc)} (the lake's tables: {known})") from None
        except duckdb.Error as exc:
            raise WinnowError(f"query failed: {_first_line(exc)}") from None

    def close(self) -> None:
        """Close the connection and remove its spill folder."""
        import shutil

        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> ReadOnlySQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_readonly(lake: str | Path | Lake | None = None) -> ReadOnlySQL:
    """The read-only SQL connection over ``lake``: a folder or :class:`~winnow.lake.Lake` (None: the ``lake``
    setting)."""
    return ReadOnlySQL(lake if isinstance(lake, Lake) else Lake.open(lake))

"""The engine registry, engine settings, and the engine package as the one door to duckdb and pyspark.

What every engine must do over a lake is checked for each registered engine in test_plugins.py.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest
from conftest import ingested_lake
from zeekgen import long_conn_fixture

from winnow.config import load, use
from winnow.engine import connect
from winnow.engine.registry import engine_for, url_forms
from winnow.errors import MissingExtraError, WinnowError


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "engines", long_conn_fixture)


@pytest.mark.parametrize("url, engine", [
    ("duckdb", "duckdb"), (" duckdb ", "duckdb"), ("spark", "spark"), ("spark://10.0.0.7:7077", "spark"),
    ("local[*]", "spark"), ("local[4]", "spark"), ("yarn", "spark"), ("k8s://https://10.0.0.9:6443", "spark"),
])
def test_urls_select_engines(url, engine):
    assert engine_for(url).name == engine


@pytest.mark.parametrize("url", ["oracle", "duck", "sparkle", "http://spark:7077", ""])
def test_unknown_engine_is_a_user_error_listing_every_url(lake, url):
    with pytest.raises(WinnowError, match="unknown engine") as caught:
        engine_for(url)
    assert all(form in str(caught.value) for form in url_forms())
    assert {"duckdb", "spark", "spark://HOST:PORT", "yarn"} <= set(url_forms())


def test_connect_defaults_to_the_engine_setting(lake, capsys):
    with use(load(lake, sets=["engine=oracle"])), pytest.raises(WinnowError, match="unknown engine 'oracle'"):
        connect(lake=lake)
    with use(load(lake, sets=["engine=duckdb"])), connect(lake=lake) as engine:
        assert engine.name == "duckdb"

    from winnow.cli.main import main

    with pytest.raises(SystemExit) as code:  # winnow detect without --engine reads it too
        main(["detect", "--lake", str(lake), "--set", "engine=oracle"])
    assert code.value.code == 1 and "unknown engine 'oracle'" in capsys.readouterr().err


def test_only_the_engine_package_imports_duckdb_or_pyspark():
    """Everything else goes through ``winnow.engine``'s API, never an engine's own module."""
    src = Path(__file__).resolve().parents[1] / "src" / "winnow"
    private = ("duckdb", "pyspark", "winnow.engine.duckdb_engine", "winnow.engine.spark_engine",
               "winnow.engine.database", "winnow.engine.groups")
    offenders = []
    for path in sorted(src.rglob("*.py")):
        if path.parent.name == "engine":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(src)}: {n}" for n in names
                          if any(n == p or n.startswith(p + ".") for p in private)]
    assert not offenders, offenders


def test_missing_pyspark_names_the_extra(lake, monkeypatch):
    from winnow.engine import spark_engine

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    monkeypatch.setattr(spark_engine, "_SESSIONS", {})
    with pytest.raises(MissingExtraError, match=r"pip install 'winnow\[spark\]'"):
        connect("spark", lake)


def _duckdb_settings(lake) -> tuple[str, str]:
    with connect("duckdb", lake) as engine:
        limit, spill = engine.backend.raw_sql(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()[0]
        assert os.path.basename(spill).startswith("winnow-spill-") and os.path.isdir(spill)
    assert not os.path.exists(spill)  # removed on close
    return limit.replace(" ", ""), spill


def test_duckdb_memory_budget_and_private_spill_folder(lake, monkeypatch):
    monkeypatch.setenv("WINNOW_MEMORY", "300MB")
    assert _duckdb_settings(lake)[0] in ("286.1MiB", "300.0MB", "300MB")
    with use(load(lake, sets=["memory=200MB"])):  # --set wins over the variable
        assert _duckdb_settings(lake)[0] in ("190.7MiB", "200.0MB", "200MB")
    monkeypatch.setenv("WINNOW_MEMORY", "lots")
    with pytest.raises(WinnowError, match="WINNOW_MEMORY") as caught:
        connect("duckdb", lake)
    assert "memory" in str(caught.value).replace("WINNOW_MEMORY", "")
    monkeypatch.delenv("WINNOW_MEMORY")
    with use(load(lake, sets=["memory=300"])), pytest.raises(WinnowError) as caught:  # a size without a unit
        connect("duckdb", lake)
    message = str(caught.value)
    assert all(name in message for name in ("memory setting '300'", "WINNOW_MEMORY", "--set memory="))


def test_running_out_of_memory_is_a_one_line_user_error(lake, monkeypatch, capsys):
    """A real DuckDB out-of-memory error (a string aggregate past a 20 MB budget) is recognised, and the
    CLI turns it into one line naming the setting to raise, not an internal error."""
    import duckdb

    from winnow.cli.main import main
    from winnow.engine.base import memory_hint, out_of_memory

    monkeypatch.setenv("WINNOW_MEMORY", "20MB")
    with connect("duckdb", lake) as engine:
        with pytest.raises(duckdb.OutOfMemoryException) as caught:
            engine.backend.raw_sql("SELECT string_agg(i::VARCHAR, ',') FROM range(10000000) t(i)").fetchall()
    assert out_of_memory(caught.value) and not out_of_memory(ValueError("x"))
    assert "WINNOW_MEMORY" in memory_hint() and "20MB" in memory_hint()

    def exhausted(*args, **kwargs):
        raise caught.value

    monkeypatch.setattr("winnow.cli.main.cli.main", exhausted)
    with pytest.raises(SystemExit) as code:
        main(["detect", "--lake", str(lake)])
    err = capsys.readouterr().err
    assert code.value.code == 1 and err.startswith("winnow: error: the engine ran out of memory")
    assert "internal error" not in err and len(err.strip().splitlines()) == 1

"""A Spark run keeps the JVM's chatter off standard output, and out of sight unless spark.verbose is set."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from zeekgen import long_conn_fixture

pytestmark = pytest.mark.spark

#: what the JVM and log4j print when Spark starts (the JVM launcher's own line cannot be turned off by log4j)
BANNER = ("Using incubator modules", "log4j", "setLogLevel", "NativeCodeLoader")


def winnow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark-quiet")
    long_conn_fixture(root / "logs")
    assert winnow("ingest", str(root / "logs"), "--lake", str(root / "lake")).returncode == 0
    return root / "lake"


def test_spark_detect_prints_only_its_own_output(lake):
    result = winnow("detect", "--lake", str(lake), "--engine", "spark", "--detector", "long_conn")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # detect reports on stderr; stdout is left for pipes
    assert not [b for b in BANNER if b in result.stderr], result.stderr
    assert "long_conn" in result.stderr and "findings stored" in result.stderr
    listed = winnow("findings", "--lake", str(lake), "--format", "jsonl").stdout
    found = [json.loads(line) for line in listed.splitlines()]
    assert len(found) == 5 and {f["detector"] for f in found} == {"long_conn"}


def test_spark_verbose_sends_the_jvm_to_stderr(lake):
    result = winnow("detect", "--lake", str(lake), "--engine", "spark", "--detector", "long_conn",
                    "--set", "spark.verbose=true")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert [b for b in BANNER if b in result.stderr], result.stderr


def test_spark_settings_come_from_the_configuration(monkeypatch):
    from winnow.config import load, use
    from winnow.engine.spark_engine import spark_conf

    monkeypatch.setenv("WINNOW_SPARK_DRIVER_MEMORY", "3g")
    with use(load(sets=["spark.shuffle_partitions=3"])):
        conf = spark_conf("local[1]")
    assert conf.get("spark.sql.shuffle.partitions") == "3" and conf.get("spark.driver.memory") == "3g"
    monkeypatch.setenv("WINNOW_SPARK_PARTITIONS", "5")
    with use(load()):
        assert spark_conf("local[1]").get("spark.sql.shuffle.partitions") == "5"

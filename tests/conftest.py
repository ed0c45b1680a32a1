"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Test data: the shared real-data folder and the small per-format fixtures in tests/data/.
# --------------------------------------------------------------------------------------------

#: the one setting that says where the shared real log data lives
DATA_ENV = "WINNOW_TEST_DATA"


def shared_data_path() -> Path:
    """``$WINNOW_TEST_DATA``, else ``<repo>/../shared/data``."""
    return Path(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder (see its MANIFEST.md); skips the test when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path}; set {DATA_ENV}")
    return path


def ingested_lake(factory: pytest.TempPathFactory, name: str, write_logs) -> Path:
    """A lake ingested from the logs ``write_logs(folder)`` writes, in a fresh temporary folder ``name``."""
    from winnow.ingest import ingest

    root = factory.mktemp(name)
    write_logs(root / "logs")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.fixture(scope="session")
def workbench_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated lake (20 hosts, 1 day, detected) with hostile log lines, built once (tests/webgen.py)."""
    from webgen import workbench_lake as build

    return build(tmp_path_factory.mktemp("workbench"))


@pytest.fixture(scope="session")
def zeek_fixtures() -> Path:
    """Small hand-written Zeek logs named by failure case (tests/data/zeek/)."""
    return REPO / "tests" / "data" / "zeek"


def engine_params() -> list:
    """Every registered engine name, as pytest parameters; an engine needing an extra carries that extra's mark."""
    from winnow.engine import engines

    return [pytest.param(name, marks=[getattr(pytest.mark, spec.extra)] if spec.extra else [])
            for name, spec in engines().items()]


def raw_evtx_systems(paths: list[Path]):
    """Each record's ``System`` element of the EVTX files ``paths``, read with the raw Rust parser and nothing
    of ours (records it cannot read are skipped), with ``EventID`` made an int: the independent count."""
    import json

    from evtx import PyEvtxParser

    for path in paths:
        records = PyEvtxParser(str(path)).records_json()
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except RuntimeError:
                continue
            system = json.loads(record["data"])["Event"]["System"]
            event_id = system.get("EventID")
            system["EventID"] = event_id if isinstance(event_id, int) else event_id["#text"]
            yield system

"""Every detector: conformance, known answers on a fixture, identical findings on DuckDB and Spark."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest
from conftest import ingested_lake
from zeekgen import long_conn_fixture

from winnow.detections import detectors, get_detector
from winnow.engine import Window, connect
from winnow.errors import WinnowError
from winnow.ingest import ingest
from winnow.scoring import FINDING_FIELDS

ENGINES = ["duckdb", "spark"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "detect", long_conn_fixture)


@pytest.mark.parametrize("name", sorted(detectors()))
def test_detector_conformance(name):
    cls = detectors()[name]
    assert cls.name == name and cls.description and cls.tables
    params = inspect.signature(cls.__init__).parameters
    det = cls()
    assert det.get_params() == {p: params[p].default for p in params if p != "self"}
    doc = inspect.getdoc(cls) or ""
    for param in det.get_params():
        assert f"{param}:" in doc, f"{name}: parameter {param} is not documented in the class docstring"


def test_unknown_detector_is_a_user_error():
    with pytest.raises(WinnowError, match="known detectors"):
        get_detector("nope")


@pytest.mark.parametrize("url", ENGINES)
def test_long_conn_known_answer(lake, url):
    with connect(url, lake) as engine:
        findings = get_detector("long_conn").find(engine, Window())
    entities = [f.entity for f in findings]
    assert entities[0] == "10.0.0.5->203.0.113.9:22/tcp"
    assert len(findings) == 5  # the rare SSH session + 4 hosts on the shared VPN gateway
    top = findings[0].to_dict()
    assert list(top) == list(FINDING_FIELDS)
    assert top["evidence"]["longest_s"] == 30000.0 and top["evidence"]["hosts_long_to_dst"] == 1
    assert top["src"] == "10.0.0.5" and top["dst"] == "203.0.113.9" and top["dport"] == 22
    assert "8 h 20 min" in top["why"] and "no other internal host" in top["why"]
    assert top["first_seen"] == "2026-11-02T00:00:10Z"
    vpn = findings[1]
    assert vpn.evidence["hosts_long_to_dst"] == 4 and vpn.score < top["score"]
    assert set(vpn.components) == {"duration", "rarity", "service"}


def test_long_conn_window_excludes(lake):
    import datetime as dt

    with connect("duckdb", lake) as engine:
        late = Window(since=dt.datetime(2026, 11, 2, 1, tzinfo=dt.UTC))
        assert get_detector("long_conn").find(engine, late) == []


def test_long_conn_ignores_nan_durations(shared_data, tmp_path):
    """Some NetFlow v9 exporters' records decode to a NaN duration: unknown, not endless."""
    ingest([shared_data / "netflow-packets"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        conn = engine.table("net.conn")
        assert conn.filter(conn.duration.isnan()).count().execute() > 0
        assert get_detector("long_conn").find(engine, Window()) == []


@pytest.fixture(scope="module")
def sim_lake(tmp_path_factory):
    from winnow.sim import simulate

    root = tmp_path_factory.mktemp("simlake")
    simulate(root / "logs", hosts=20, days=1, seed=3, logons=True)  # logons: the Windows and Linux detectors
    long_conn_fixture(root / "logs" / "extra")  # so every detector has something to find
    shutil.copy(Path(__file__).parent / "data" / "ids" / "eve.json", root / "logs" / "extra" / "eve.json")  # ids
    _endpoint_fixtures(root / "logs" / "endpoint-extra")
    ingest([root / "logs"], root / "lake")
    truth = json.loads((root / "logs" / "truth.json").read_text())  # intel: a feed naming the planted C2
    (root / "lake" / "intel").mkdir()
    (root / "lake" / "intel" / "c2.csv").write_text("".join(f"{b['dst']}\n" for b in truth["beacons"]))
    (root / "lake" / "sigma").mkdir()  # sigma: two rules of our own over what the simulated Windows hosts log
    (root / "lake" / "sigma" / "spooler.yml").write_text(SPOOLER_RULE)
    (root / "lake" / "sigma" / "tls.yml").write_text(TLS_RULE)
    return root / "lake"


def _endpoint_fixtures(folder: Path) -> None:
    """The hand-made events of the endpoint detectors' own tests, which the simulator does not write."""
    import datetime as dt

    from test_account_discovery import EVENTS as DISCOVERY
    from test_baseline import _write_logs as write_baseline
    from test_bits_jobs import EVENTS as BITS
    from test_first_seen import _write as write_first_seen
    from test_notable_events import EVENTS as NOTABLE
    from test_pipes import _write as write_pipes
    from test_powershell import _attack_events
    from test_powershell import _write as write_powershell
    from test_registry_change import EVENTS as REGISTRY
    from test_sensor_health import write_feed

    for name, events in (("discovery", DISCOVERY), ("bits", BITS), ("notable", NOTABLE), ("registry", REGISTRY)):
        (folder / name).mkdir(parents=True)
        (folder / name / "events.json").write_text("".join(json.dumps(e) + "\n" for e in events))
    write_pipes(folder / "pipes")
    write_first_seen(folder / "first-seen", 4)
    write_baseline(folder / "baseline", 8)  # baseline: eight days of a few hosts' traffic, one 40x spike
    write_powershell(folder / "powershell", _attack_events())
    # sensor_health: a Sysmon host that reported for nine days before the simulated day, then stopped
    write_feed(folder / "feed", dt.datetime(2026, 10, 23, tzinfo=dt.UTC), {"WS-QUIET": [72] * 9})


SPOOLER_RULE = """title: Print spooler started by services.exe
id: 6f0b3c55-8f6d-4b0e-9d7a-1c1f1e0a0001
status: test
level: medium
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: '\\spoolsv.exe'
    ParentImage|endswith: '\\services.exe'
  condition: selection
"""

TLS_RULE = """title: Outbound TLS from a Windows service host
id: 6f0b3c55-8f6d-4b0e-9d7a-1c1f1e0a0002
status: test
level: low
logsource: {category: network_connection, product: windows}
detection:
  selection:
    Image|endswith: '\\svchost.exe'
    DestinationPort: 443
  condition: selection
"""


@pytest.mark.parametrize("name", sorted(detectors()))
def test_identical_findings_on_both_engines(sim_lake, name):
    results = {}
    for url in ENGINES:
        with connect(url, sim_lake) as engine:
            results[url] = [f.to_dict() for f in get_detector(name).find(engine, Window())]
    assert results["duckdb"] == results["spark"]
    assert results["duckdb"], f"{name} found nothing on the simulated lake; the parity check would be vacuous"

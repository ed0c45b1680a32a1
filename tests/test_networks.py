"""One meaning of "internal": the text tests and their Python twin, flow records, trusted and ignored flags, settings.

Each scenario is the view of a SOC analyst on one kind of sensor: NetFlow/Argus (no flags), Zeek
with ``Site::local_nets`` (flags to believe), Zeek whose flags are false everywhere (flags to set
aside), and ``networks.internal`` changed with ``--set``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from pathlib import Path

import pytest
from conftest import ingested_lake
from zeekgen import conn_line, dns_line, write_conn_log, write_dns_log

from winnow.config import DEFAULT_INTERNAL, load, use
from winnow.detections import get_detector
from winnow.detections._networks import (
    NOT_ROUTED,
    LocalFlags,
    Verdicts,
    in_networks,
    in_networks_py,
    is_internal,
    is_internal_py,
    local_flags,
)
from winnow.engine import Window, connect, fetch
from winnow.ingest import ingest

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)

# --------------------------------------------------------------------------------------------
# The Python twin equals the engines' expression
# --------------------------------------------------------------------------------------------

ADDRESSES = [
    # IPv4
    "10.1.2.3", "10.0.0.0", "172.16.0.1", "172.31.255.255", "172.32.0.1", "172.15.9.9", "192.168.1.1",
    "192.169.0.1", "169.254.1.1", "100.64.0.1", "100.127.255.255", "100.128.0.1", "64.225.56.201", "64.225.56.20",
    "10.1.2.127", "10.1.2.128", "10.1.2.255", "224.0.0.251", "255.255.255.255", "127.0.0.1", "0.0.0.0", "8.8.8.8",
    # IPv6
    "fd12:3456::1", "FD12::1", "fc00::", "fe80::1", "FEBF::1", "fec0::1", "ff02::1:3", "::1", "::", "2001:db8::1",
    "2001:DB8::1", "2001:db9::1", "2600:1f18::1", "::ffff:10.0.0.1", "fe80::1%eth0",
    # odd strings: the twin must agree with the engines on them too
    "", " 10.0.0.1", "10.0.0.1 ", "10.foo", "10.0.0.01", "999.1.1.1", "1", "10", ":", "not an ip", "localhost",
    "fd1::1", "Fd12::1", "10.0.0.1/8", "1.2.3.4\n", None,
]
NETWORKS = {
    "default": DEFAULT_INTERNAL,
    "not_routed": NOT_ROUTED,
    "custom": ("64.225.56.201/32", "100.64.0.0/10", "10.1.2.128/25", "2001:db8::/32", "172.20.0.0/14"),
    "any_v4": ("0.0.0.0/0",),
    "any_v6": ("::/0",),
    "none": (),
}
FLAGS = [None, True, False]


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory) -> Path:
    lake = tmp_path_factory.mktemp("nets") / "lake"
    lake.mkdir()
    return lake


@pytest.mark.parametrize("url", ENGINES)
def test_python_twin_equals_the_engines(empty_lake, url):
    import ibis
    import pyarrow as pa

    rows = [(a, f) for a in ADDRESSES for f in FLAGS]
    data = pa.table({"ip": pa.array([a for a, _ in rows], pa.string()),
                     "flag": pa.array([f for _, f in rows], pa.bool_())})
    t = ibis.memtable(data)
    columns = {name: in_networks(t.ip, cidrs) for name, cidrs in NETWORKS.items()}
    custom = ",".join(NETWORKS["custom"])
    with use(load(sets=[f"networks.internal={custom}"])):
        columns["internal_custom"] = is_internal(t.ip, t.flag)
        columns["internal_custom_no_flag"] = is_internal(t.ip)
        want_custom = [(is_internal_py(a, f), is_internal_py(a)) for a, f in rows]
    columns["internal_default"] = is_internal(t.ip, t.flag)
    # what believed flags said about addresses, as literals and (past 1,000 addresses) as a joined table
    few = Verdicts(local=("64.225.56.201", "8.8.8.8", "fd1::1", ""), remote=("10.1.2.3", "fe80::1", "10.foo"))
    many = Verdicts(local=tuple(f"203.0.{i // 250}.{i % 250}" for i in range(1500)) + ("2001:db9::1",),
                    remote=("192.168.1.1",))
    columns["verdicts_few"] = is_internal(t.ip, t.flag, few)
    columns["verdicts_many"] = is_internal(t.ip, None, many)
    with connect(url, empty_lake) as engine:
        got = engine.backend.to_pyarrow(t.select("ip", "flag", **columns)).to_pylist()
    for (address, flag), row, (custom_flag, custom_plain) in zip(rows, got, want_custom, strict=True):
        for name, cidrs in NETWORKS.items():
            assert row[name] is in_networks_py(address, cidrs), (url, name, address)
        assert row["internal_custom"] is custom_flag, (url, address, flag)
        assert row["internal_custom_no_flag"] is custom_plain, (url, address)
        assert row["internal_default"] is is_internal_py(address, flag), (url, address, flag)
        assert row["verdicts_few"] is is_internal_py(address, flag, few), (url, address, flag)
        assert row["verdicts_many"] is is_internal_py(address, None, many), (url, address)
    flagged = {(r["ip"], r["flag"]): r["internal_default"] for r in got}
    assert flagged[("8.8.8.8", True)] and not flagged[("10.1.2.3", False)]  # the sensor's verdict wins
    assert flagged[("10.1.2.3", None)] and not flagged[("8.8.8.8", None)] and not flagged[(None, None)]
    verdicts = {(r["ip"], r["flag"]): (r["verdicts_few"], r["verdicts_many"]) for r in got}
    assert verdicts[("8.8.8.8", None)] == (True, False) and verdicts[("10.1.2.3", None)] == (False, True)
    assert verdicts[("10.1.2.3", True)] == (True, True) and verdicts[("2001:db9::1", None)] == (False, True)
    assert verdicts[("192.168.1.1", None)] == (True, False)


def test_text_tests_are_the_networks_for_canonical_addresses():
    """For every address as engines print it, the text tests say what ipaddress says."""
    for cidrs in NETWORKS.values():
        nets = [ipaddress.ip_network(c) for c in cidrs]
        for address in ADDRESSES:
            try:
                ip = ipaddress.ip_address(address)
            except (ValueError, TypeError):
                continue
            if address not in (str(ip), str(ip).upper()) or ip.version == 6 and int(ip) >> 112 < 0x1000:
                continue  # not canonical, or a short first hextet (inside the reserved ::/4)
            assert in_networks_py(address, cidrs) == any(ip in n for n in nets if n.version == ip.version), address


# --------------------------------------------------------------------------------------------
# NetFlow-shaped data: no flags, so networks.internal decides
# --------------------------------------------------------------------------------------------

def _argus_line(ts: float, src: str, dst: str, dport: int, dur: float = 0.3, out: int = 600, back: int = 1800,
                back_pkts: int = 5) -> str:
    stamp = (T0 + dt.timedelta(seconds=ts)).strftime("%Y/%m/%d %H:%M:%S.%f")
    sport = 40000 + int(ts) % 20000
    state = "FSPA_FSPA" if back_pkts else "S_"
    return (f"{stamp},{dur:.6f},tcp,{src},{sport},   ->,{dst},{dport},{state},0,0,{5 + back_pkts},{out + back},"
            f"{out},5,")


def netflow_fixture(folder: Path) -> Path:
    """Argus flows (no local_orig) of 31 internal hosts and 400 internet clients of a web server.

    10.0.0.66 beacons to 203.0.113.66 every ~90 s; 20 of the 30 workstations call a telemetry
    service every 300 s; 400 outside sources visit 10.0.0.80:443; 6 outside sources and one
    internal host hold two-hour sessions to 10.0.0.80:443 (a VPN concentrator); 45.33.9.9 probes
    3389 on 10.0.1.1-60 (unanswered) and 10.0.0.12 probes 445 on 10.0.2.1-60 (unanswered).
    """
    rng = random.Random(3)
    lines = []
    t = 0.0
    while t < 6 * 3600:
        lines.append(_argus_line(t, "10.0.0.66", "203.0.113.66", 443, out=420, back=960))
        t += 90 * (1 + rng.uniform(-0.2, 0.2))
    for h in range(1, 21):
        for k in range(72):
            lines.append(_argus_line(h * 7 + k * 300 + rng.uniform(-3, 3), f"10.0.0.{h}", "198.51.100.5", 443,
                                     out=700, back=2100))
    for h in range(1, 31):
        for _ in range(6):
            lines.append(_argus_line(rng.uniform(0, 6 * 3600), f"10.0.0.{h}", f"192.0.2.{rng.randint(1, 60)}", 443,
                                     out=rng.randint(500, 4000), back=rng.randint(2000, 90000)))
    for i in range(400):
        for _ in range(2):
            lines.append(_argus_line(rng.uniform(0, 6 * 3600), f"45.33.{i // 200}.{i % 200 + 1}", "10.0.0.80", 443))
    for i, src in enumerate([f"185.199.0.{n}" for n in range(1, 7)] + ["10.0.0.7"]):
        lines.append(_argus_line(600 + i, src, "10.0.0.80", 443, dur=7200.0, out=2_000_000, back=9_000_000))
    for n in range(1, 61):
        lines.append(_argus_line(9000 + n, "45.33.9.9", f"10.0.1.{n}", 3389, 0.0, 60, 0, back_pkts=0))
        lines.append(_argus_line(12000 + n, "10.0.0.12", f"10.0.2.{n}", 445, 0.0, 60, 0, back_pkts=0))
    lines.sort()
    header = ("StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,"
              "SrcPkts,Label")
    path = folder / "flows.binetflow"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.fixture(scope="module")
def netflow_lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "netflow_nets", netflow_fixture)


@pytest.mark.parametrize("url", ENGINES)
def test_internet_sources_do_not_join_the_beacon_fleet(netflow_lake, url):
    with connect(url, netflow_lake) as engine:
        conn = engine.table("net.conn")
        assert fetch(conn.aggregate(flags=conn.local_orig.count()))["flags"][0].as_py() == 0  # no flags at all
        findings = get_detector("beacon").find(engine, Window())
    top = findings[0]
    assert (top.src, top.dst) == ("10.0.0.66", "203.0.113.66") and not top.evidence["inbound"]
    assert top.evidence["active_hosts"] == 31, "the fleet is the 31 internal hosts, not the 400 web clients"
    assert "no other host talks to it" in top.why
    # telemetry from 20 of 31 hosts is the fleet's own habit; 400 outside clients must not make it look rare
    assert "198.51.100.5" not in {f.dst for f in findings}


@pytest.mark.parametrize("url", ENGINES)
def test_scans_say_whether_the_scanner_is_ours(netflow_lake, url):
    with connect(url, netflow_lake) as engine:
        findings = {f.src: f for f in get_detector("scan").find(engine, Window())}
    assert set(findings) == {"45.33.9.9", "10.0.0.12"}
    outside, inside = findings["45.33.9.9"], findings["10.0.0.12"]
    assert not outside.evidence["src_internal"] and outside.why.startswith("45.33.9.9 (outside) probed 60 hosts")
    assert inside.evidence["src_internal"] and inside.why.startswith("10.0.0.12 probed 60 hosts")


@pytest.mark.parametrize("url", ENGINES)
def test_long_connections_count_internal_hosts_apart_from_outside_sources(netflow_lake, url):
    with connect(url, netflow_lake) as engine:
        findings = get_detector("long_conn").find(engine, Window())
    by_src = {f.src: f for f in findings}
    assert set(by_src) == {"10.0.0.7", *(f"185.199.0.{n}" for n in range(1, 7))}
    inside = by_src["10.0.0.7"]
    assert inside.evidence["src_internal"] and inside.evidence["hosts_long_to_dst"] == 1
    assert inside.evidence["outside_sources_long_to_dst"] == 6 and inside.components["rarity"] == 1.0
    assert "no other internal host holds long connections to it" in inside.why
    outside = by_src["185.199.0.1"]
    assert not outside.evidence["src_internal"] and outside.evidence["hosts_long_to_dst"] == 1
    assert "185.199.0.1 is outside the internal networks; 6 outside sources hold long connections to it, " \
           "and 1 internal host" in outside.why
    assert outside.components["rarity"] < 0.3 < inside.components["rarity"]  # a concentrator for remote workers


@pytest.mark.parametrize("url", ENGINES)
def test_setting_networks_internal_changes_who_is_internal(netflow_lake, url):
    """``--set networks.internal=...`` is the configuration in force while a detector runs."""
    with connect(url, netflow_lake) as engine:
        with use(load(sets=["networks.internal=10.0.0.0/27"])):  # 10.0.0.1-31: .66 and .80 are outside
            narrow = get_detector("beacon").find(engine, Window())
        with use(load(sets=["networks.internal=10.0.0.0/8,203.0.113.0/24"])):  # the C2 is one of ours
            inside = get_detector("rare_dest").find(engine, Window())
        default = get_detector("rare_dest").find(engine, Window())
    beacon = next(f for f in narrow if f.src == "10.0.0.66")
    assert beacon.evidence["inbound"] and beacon.evidence["active_hosts"] == 30 and "(outside)" in beacon.why
    assert ("10.0.0.66", "203.0.113.66") in {(f.src, f.dst) for f in default}
    assert "203.0.113.66" not in {f.dst for f in inside}


# --------------------------------------------------------------------------------------------
# Zeek: flags to believe, flags that are false everywhere, one sensor of each kind
# --------------------------------------------------------------------------------------------

def _zeek_day(folder: Path, hosts: list[str], local: tuple[str, str] | None, beacon: str | None = None) -> Path:
    """Browsing by ``hosts`` and, from ``beacon``, a 120 s beacon; ``local`` forces the flags (None: Zeek's)."""
    rng = random.Random(len(hosts))
    lines = []
    for i, h in enumerate(hosts):
        for k in range(12):
            ts = T0.timestamp() + rng.uniform(0, 6 * 3600)
            lines.append(conn_line(ts, f"C{i}x{k}", h, 50000 + k, f"192.0.2.{rng.randint(1, 40)}", 443, 1.0,
                                   rng.randint(300, 5000), rng.randint(1000, 90000), local=local))
    if beacon:
        for k in range(150):
            ts = T0.timestamp() + 60 + k * 120 + rng.uniform(-5, 5)
            lines.append(conn_line(ts, f"CB{k}", beacon, 41000 + k, "203.0.113.7", 443, 0.2, 350, 700, local=local))
    lines.sort()
    return write_conn_log(folder / "conn.log", lines)


@pytest.fixture(scope="module")
def zeek_lakes(tmp_path_factory) -> dict[str, Path]:
    """``flagged``: Zeek with private local_nets; ``all_false``: the same day with F everywhere;
    ``mixed``: sensor east (flags) and sensor west (F everywhere) in one lake."""
    root = tmp_path_factory.mktemp("zeek_nets")
    east = [f"10.0.0.{n}" for n in range(1, 26)]
    west = [f"192.168.7.{n}" for n in range(1, 16)]
    _zeek_day(root / "flagged", east, None, beacon="10.0.0.9")
    _zeek_day(root / "all_false", east, ("F", "F"), beacon="10.0.0.9")
    _zeek_day(root / "west", west, ("F", "F"))
    lakes = {"flagged": root / "lake_flagged", "all_false": root / "lake_all_false", "mixed": root / "lake_mixed"}
    ingest([root / "flagged"], lakes["flagged"])
    ingest([root / "all_false"], lakes["all_false"])
    ingest([root / "flagged"], lakes["mixed"], sensor="east")
    ingest([root / "west"], lakes["mixed"], sensor="west")
    return lakes


@pytest.mark.parametrize("url", ENGINES)
def test_flags_false_everywhere_are_set_aside(zeek_lakes, url):
    """A Zeek that marks nothing local says nothing about which side is ours: the networks decide for its rows."""
    found = {}
    for name, lake in zeek_lakes.items():
        with connect(url, lake) as engine:
            conn = engine.table("net.conn")
            found[name] = (local_flags(conn), get_detector("beacon").find(engine, Window()))
    assert found["flagged"][0] == LocalFlags(trusted=(None,))
    assert found["all_false"][0] == LocalFlags(ignored=(None,))
    assert found["mixed"][0] == LocalFlags(trusted=("east",), ignored=("west",))
    flagged, all_false, mixed = (found[n][1][0] for n in ("flagged", "all_false", "mixed"))
    assert (flagged.src, flagged.dst) == ("10.0.0.9", "203.0.113.7") and flagged.evidence["active_hosts"] == 25
    assert all_false.to_dict() == flagged.to_dict(), "believing F everywhere would leave no internal host"
    # per sensor: east's flags are believed, west's ignored, so west's 15 private hosts join the fleet
    assert (mixed.src, mixed.dst) == ("10.0.0.9", "203.0.113.7") and mixed.evidence["active_hosts"] == 40


@pytest.mark.parametrize("url", ENGINES)
def test_believed_flags_win_over_networks_internal(zeek_lakes, url):
    with use(load(sets=["networks.internal=172.16.0.0/12"])), connect(url, zeek_lakes["mixed"]) as engine:
        conn = local_flags(engine.table("net.conn")).apply(engine.table("net.conn"))
        per_sensor = conn.group_by("sensor").aggregate(
            internal=is_internal(conn.src_ip, conn.local_orig).cast("int64").sum()
        )
        counts = {r["sensor"]: r["internal"] for r in fetch(per_sensor).to_pylist()}
    assert counts == {"east": 25 * 12 + 150, "west": 0}  # east by its flags, west by the (narrowed) networks


# --------------------------------------------------------------------------------------------
# Logs without flags borrow the sensor's verdict on a source from its connections
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def droplet_lake(tmp_path_factory) -> Path:
    """A Zeek on a cloud server whose Site::local_nets is its own public address (like RITA's missing_host).

    The server tunnels over DNS (TXT queries under t.tunnel-demo.net); three internet hosts query a
    few names of the same domain through it (an open resolver).
    """
    root = tmp_path_factory.mktemp("droplet")
    t0 = T0.timestamp()
    local = ("T", "F")
    conn = [conn_line(t0 + k, f"CD{k}", "64.225.56.201", 50000 + k, "8.8.8.8", 53, 0.01, 60, 200, "udp",
                      local=local) for k in range(60)]
    conn += [conn_line(t0 + 900 + k, f"CI{k}", f"198.51.100.{k}", 40000, "64.225.56.201", 53, 0.01, 60, 200,
                       "udp", local=("F", "T")) for k in range(1, 4)]
    rng = random.Random(1)
    dns = []
    for k in range(60):
        label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(40))
        dns.append(dns_line(t0 + k, f"CD{k}", "64.225.56.201", "8.8.8.8", f"{label}.t.tunnel-demo.net", "TXT"))
    for k in range(1, 4):
        for j in range(2):
            dns.append(dns_line(t0 + 900 + k + j / 10, f"CI{k}", f"198.51.100.{k}", "64.225.56.201",
                                f"x{k}{j}.tunnel-demo.net"))
    write_conn_log(root / "logs" / "conn.log", conn)
    write_dns_log(root / "logs" / "dns.log", dns)
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", ENGINES)
def test_dns_sources_are_internal_as_their_connections_say(droplet_lake, url):
    with connect(url, droplet_lake) as engine:
        top = get_detector("dns_tunnel").find(engine, Window())[0]
    assert top.entity == "64.225.56.201->tunnel-demo.net"
    assert top.evidence["src_internal"], "the sensor marks 64.225.56.201 local; no setting needed"
    assert top.evidence["hosts_querying_domain"] == 1 and top.components["rarity"] == 1.0
    assert "other" not in top.why  # the three internet clients are not hosts of ours


# --------------------------------------------------------------------------------------------
# Real flow records (Slips' Argus test3: CTU's public 147.32.0.0/16, no flags)
# --------------------------------------------------------------------------------------------

def test_real_argus_flows_follow_networks_internal(shared_data, tmp_path):
    """On flow records only the setting says which side is ours: CTU's hosts are public addresses."""
    ingest([shared_data / "stratosphere/slips-dataset/argus-binetflow/test3-mixed.binetflow"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        default = get_detector("beacon").find(engine, Window())
        with use(load(sets=["networks.internal=147.32.0.0/16"])):
            ctu = get_detector("beacon").find(engine, Window())
            scans = get_detector("scan").find(engine, Window())
    assert default == []  # by default nothing here is internal: no fleet, no outbound channel
    top = ctu[0]
    assert (top.src, top.dst, top.dport) == ("147.32.84.147", "54.192.46.117", 22) and not top.evidence["inbound"]
    assert abs(top.evidence["period_s"] - 10) < 1 and top.evidence["active_hosts"] == 6
    rdp = next(f for f in scans if f.src == "46.166.151.160")  # Slips: "Horizontal port scan to port rdp 3389/tcp"
    assert not rdp.evidence["src_internal"] and "(outside)" in rdp.why

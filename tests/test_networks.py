"""One meaning of "internal": the text tests and their Python twin, flow records, trusted and ignored flags, settings.

Each scenario is the view of a SOC analyst on one kind of sensor: NetFlow/Argus (no flags), Zeek
with ``Site::local_nets`` (flags to believe), Zeek whose flags are false everywhere (flags to set
aside), and ``networks.internal`` changed with ``--set``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from winnow.config import DEFAULT_INTERNAL, load, use
from winnow.detections._networks import (
    NOT_ROUTED,
    in_networks,
    in_networks_py,
    is_internal,
    is_internal_py,
)
from winnow.engine import connect

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]

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
    with connect(url, empty_lake) as engine:
        got = engine.backend.to_pyarrow(t.select("ip", "flag", **columns)).to_pylist()
    for (address, flag), row, (custom_flag, custom_plain) in zip(rows, got, want_custom, strict=True):
        for name, cidrs in NETWORKS.items():
            assert row[name] is in_networks_py(address, cidrs), (url, name, address)
        assert row["internal_custom"] is custom_flag, (url, address, flag)
        assert row["internal_custom_no_flag"] is custom_plain, (url, address)
        assert row["internal_default"] is is_internal_py(address, flag), (url, address, flag)
    flagged = {(r["ip"], r["flag"]): r["internal_default"] for r in got}
    assert flagged[("8.8.8.8", True)] and not flagged[("10.1.2.3", False)]  # the sensor's verdict wins
    assert flagged[("10.1.2.3", None)] and not flagged[("8.8.8.8", None)] and not flagged[(None, None)]


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

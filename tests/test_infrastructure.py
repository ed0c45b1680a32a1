"""The one table of infrastructure services and housekeeping addresses: Ibis expressions equal their Python twins."""

from __future__ import annotations

import ibis
import pytest
from conftest import engine_params

from winnow.config import ConfigError, load, use
from winnow.detections import _infrastructure as infra
from winnow.engine import connect

ROWS = [("udp", 67), ("UDP", 123), ("tcp", 123), ("udp", 1900), ("tcp", 443), ("udp", 5353), ("icmp", 0),
        (None, 53), ("udp", None)]
ADDRESSES = ["255.255.255.255", "239.255.255.250", "224.0.0.251", "ff02::fb", "FE80::1", "169.254.10.1", "0.0.0.0",
             "127.0.0.1", "10.1.0.1", "8.8.8.8", "2001:db8::1", "", None, "not an ip"]


@pytest.mark.parametrize("url", engine_params())
def test_expressions_equal_python_twins(url, tmp_path):
    config = load(sets=['infrastructure.services={"udp/123" = 0.4, "udp/67" = 0.1, "udp/1900" = 0.2}'], env={})
    with use(config), connect(url, tmp_path) as engine:
        t = ibis.memtable({"proto": [p for p, _ in ROWS], "port": [q for _, q in ROWS]},
                          schema={"proto": "string", "port": "int64"})
        got = engine.backend.to_pyarrow(t.select(w=infra.service_weight(t.proto, t.port).fill_null(1.0)))["w"]
        assert got.to_pylist() == [infra.service_weight_py(p, q) for p, q in ROWS]
        assert got.to_pylist()[:4] == [0.1, 0.4, 1.0, 0.2]
        a = ibis.memtable({"ip": ADDRESSES}, schema={"ip": "string"})
        flags = engine.backend.to_pyarrow(a.select(h=infra.is_housekeeping_address(a.ip)))["h"].to_pylist()
        assert flags == [infra.is_housekeeping_address_py(ip) for ip in ADDRESSES]
        assert flags[:8] == [True] * 8 and not any(flags[8:])


def test_labels_and_settings():
    with use(load(env={})):
        assert infra.service_label("udp", 67.0) == "DHCP (udp/67)"
        assert infra.service_label("tcp", 443) == "" and infra.service_key("udp", float("nan")) == ""
    with pytest.raises(ConfigError, match='infrastructure.services: expected a table of weights'):
        load(sets=["infrastructure.services=[1, 2]"], env={})


def test_reverse_and_service_discovery_lookups_are_missed_by_design():
    from winnow.detections._infrastructure import service_name_weight_py, service_name_weight_value

    weight = service_name_weight_value()
    for name in ("201.56.225.64.in-addr.arpa", "b.a.9.8.ip6.arpa", "_ldap._tcp.dc._msdcs.corp"):
        assert service_name_weight_py(name) == weight
    assert service_name_weight_py("arpa-lookup.example.com") == 1.0

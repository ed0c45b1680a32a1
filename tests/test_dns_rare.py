"""dns_tunnel and rare_dest: known answers on hand-written Zeek logs (both engines), real data, simulation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import ingested_lake
from zeekgen import conn_line, write_conn_log

from winnow.config import Config, load, use
from winnow.detections import get_detector
from winnow.detections._domains import entropy, registered_domain_py
from winnow.detections._networks import in_networks_py
from winnow.engine import Window, connect
from winnow.errors import WinnowError
from winnow.ingest import ingest
from winnow.scoring import FINDING_FIELDS

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
T0 = 1793577600.0  # 2026-11-02T00:00:00Z

DNS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype "
    "qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected",
    "time string addr port addr port enum count interval string count string count string count string "
    "bool bool bool bool count vector[string] vector[interval] bool",
)
SSL = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name resumed last_alert "
    "next_protocol established ssl_history cert_chain_fps client_cert_chain_fps sni_matches_cert "
    "validation_status ja3 ja3s",
    "time string addr port addr port string string string string bool string string bool string "
    "vector[string] vector[string] bool string string string",
)
HTTP = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer version user_agent "
    "origin request_body_len response_body_len status_code status_msg info_code info_msg tags username "
    "password proxied orig_fuids orig_filenames orig_mime_types resp_fuids resp_filenames resp_mime_types",
    "time string addr port addr port count string string string string string string string count count "
    "count string count string set[enum] string string set[string] vector[string] vector[string] "
    "vector[string] vector[string] vector[string] vector[string]",
)
QTYPE = {"A": 1, "TXT": 16, "PTR": 12, "SRV": 33, "AAAA": 28}
JA3_BROWSER, JA3_C2 = "b32309a26951912be7dba376398abc3b", "c12f54a3f91dc7bafd92cb59fe009a35"


def write_zeek(path: Path, kind: str, spec: tuple[str, str], rows: list[list[str]]) -> Path:
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{kind}",
        "#open\t2026-11-02-00-00-00",
        "#fields\t" + "\t".join(spec[0].split()),
        "#types\t" + "\t".join(spec[1].split()),
    ]
    rows = sorted(rows, key=lambda r: float(r[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + ["\t".join(r) for r in rows]) + "\n#close\t2026-11-03-00-00-00\n")
    return path


def dns_row(
    ts: float, uid: str, src: str, query: str, qtype: str = "A", rcode: str = "NOERROR", answers: str = "-"
) -> list[str]:
    ttls = ",".join("60.000000" for _ in answers.split(",")) if answers != "-" else "-"
    return [
        f"{ts:.6f}",
        uid,
        src,
        "53000",
        "10.0.0.53",
        "53",
        "udp",
        "1",
        "0.020000",
        query,
        "1",
        "C_INTERNET",
        str(QTYPE[qtype]),
        qtype,
        "3" if rcode == "NXDOMAIN" else "0",
        rcode,
        "F",
        "F",
        "T",
        "T",
        "0",
        answers,
        ttls,
        "F",
    ]


def ssl_row(
    ts: float,
    uid: str,
    src: str,
    dst: str,
    sni: str = "-",
    ja3: str = JA3_BROWSER,
    status: str = "ok",
    port: int = 443,
) -> list[str]:
    return [
        f"{ts:.6f}",
        uid,
        src,
        "50000",
        dst,
        str(port),
        "TLSv12",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "secp256r1",
        sni,
        "F",
        "-",
        "-",
        "T",
        "CsxknGIi",
        "-",
        "(empty)",
        "T",
        status,
        ja3,
        "7d71f811c3fee4b59e7225b16423d58e",
    ]


def http_row(ts: float, uid: str, src: str, dst: str, ua: str, port: int = 80) -> list[str]:
    return [
        f"{ts:.6f}",
        uid,
        src,
        "50000",
        dst,
        str(port),
        "1",
        "GET",
        dst,
        "/",
        "-",
        "1.1",
        ua,
        "-",
        "0",
        "500",
        "200",
        "OK",
        "-",
        "-",
        "(empty)",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
    ]


def dns_fixture(folder: Path) -> None:
    """A TXT tunnel, a CDN with hashed names, PTR sweeps, Chromium probes, AD SRV and WPAD noise."""
    rng = random.Random(7)
    dns, conn = [], []
    for i in range(300):  # the tunnel: 300 unique base32 names under exfil-demo.net, TXT, in 30 min
        label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(40))
        dns.append(
            dns_row(
                T0 + 3600 + i * 6,
                f"DT{i}",
                "10.0.0.66",
                f"{label}.t.exfil-demo.net",
                "TXT",
                answers=f"TXT 32 {label[:32]}",
            )
        )
    for h in range(5):  # hashed CDN names looked up and connected to by five hosts
        for i in range(40):
            name = "".join(rng.choice("0123456789abcdef") for _ in range(32))
            ip = f"198.51.100.{10 + i % 20}"
            dns.append(
                dns_row(
                    T0 + 7200 + h * 100 + i,
                    f"DC{h}_{i}",
                    f"10.0.0.{10 + h}",
                    f"{name}.cdn.fastcdn-demo.com",
                    answers=f"edge.fastcdn-demo.net,{ip}",
                )
            )
            conn.append(
                conn_line(T0 + 7200.5 + h * 100 + i, f"CC{h}_{i}", f"10.0.0.{10 + h}", 40000 + i, ip, 443)
            )
    for i in range(100):  # reverse lookups of a whole /24
        dns.append(
            dns_row(
                T0 + 9000 + i, f"DP{i}", "10.0.0.10", f"{i}.2.0.192.in-addr.arpa", "PTR", rcode="NXDOMAIN"
            )
        )
    for i in range(30):  # Chromium's intranet-redirect probes: random single labels, NXDOMAIN
        probe = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(7, 15)))
        dns.append(dns_row(T0 + 10000 + i, f"DR{i}", "10.0.0.11", probe, rcode="NXDOMAIN"))
    for i, name in enumerate(
        [
            "_ldap._tcp.dc._msdcs.corp.example.com",
            "_kerberos._tcp.corp.example.com",
            "dc01.corp.example.com",
            "wpad.corp.example.com",
            "isatap.corp.example.com",
            "wpad",
        ]
    ):
        dns.append(
            dns_row(
                T0 + 11000 + i,
                f"DA{i}",
                "10.0.0.12",
                name,
                "SRV" if name[0] == "_" else "A",
                rcode="NXDOMAIN" if "wpad" in name or "isatap" in name else "NOERROR",
            )
        )
    write_zeek(folder / "dns.log", "dns", DNS, dns)
    write_conn_log(folder / "conn.log", sorted(conn))


def rare_fixture(folder: Path, local: tuple[str, str] | None = None) -> None:
    """20 hosts on a popular site, an HTTPS C2 (no SNI, odd JA3, self-signed), an HTTP C2 (odd UA), noise.

    ``local``: (local_orig, local_resp) written on every connection; default: Zeek's flags for private local_nets.
    """
    conn, ssl, http = [], [], []
    n = 0

    def add(
        ts: float,
        src: str,
        dst: str,
        port: int,
        sbytes: int = 800,
        dbytes: int = 4000,
        sni: str | None = None,
        ja3: str = JA3_BROWSER,
        status: str = "ok",
        ua: str | None = None,
    ) -> None:
        nonlocal n
        n += 1
        uid = f"C{n}"
        conn.append(
            conn_line(
                ts,
                uid,
                src,
                30000 + n % 30000,
                dst,
                port,
                0.5,
                sbytes,
                dbytes,
                service="ssl" if ua is None else "http",
                local=local,
            )
        )
        if ua is None:
            ssl.append(ssl_row(ts, uid, src, dst, sni or "-", ja3, status, port))
        else:
            http.append(http_row(ts, uid, src, dst, ua, port))

    for h in range(1, 21):
        for k in range(5):
            add(T0 + 1000 * h + k, f"10.0.0.{h}", "203.0.113.10", 443, sni="www.popular.example")
            add(
                T0 + 1000 * h + k + 0.5,
                f"10.0.0.{h}",
                "203.0.113.20",
                80,
                ua="Mozilla/5.0 (Windows NT 10.0) Common",
            )
    for k in range(100):  # HTTPS C2 every 60 s
        add(
            T0 + 30000 + 60 * k,
            "10.0.0.7",
            "198.51.100.66",
            443,
            300,
            500,
            ja3=JA3_C2,
            status="self signed certificate",
        )
    for k in range(50):  # HTTP C2 every 5 min with a user agent nobody else sends
        add(
            T0 + 30010 + 300 * k, "10.0.0.8", "198.51.100.77", 80, 400, 900, ua="Modzilla/0.0001 (Atari 7800)"
        )
    add(T0 + 40000, "10.0.0.9", "192.0.2.200", 443, 500, 600, sni="rare.site.example")  # one-off: noise
    conn.append(conn_line(T0 + 50, "CInt", "10.0.0.1", 1234, "10.0.0.2", 445, local=local))  # internal
    conn.append(
        conn_line(T0 + 60, "CMul", "10.0.0.3", 1900, "239.255.255.250", 1900, proto="udp", local=local)
    )  # multicast
    for k in range(30):  # inbound SSH from the internet
        conn.append(
            conn_line(T0 + 70 + k, f"CIn{k}", "198.51.100.99", 40000 + k, "10.0.0.5", 22, 2.0, 2000, 3000,
                      local=local)
        )
    write_conn_log(folder / "conn.log", sorted(conn))
    write_zeek(folder / "ssl.log", "ssl", SSL, ssl)
    write_zeek(folder / "http.log", "http", HTTP, http)


@pytest.fixture(scope="module")
def dns_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "dnstunnel", dns_fixture)


@pytest.fixture(scope="module")
def rare_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "raredest", rare_fixture)


@pytest.fixture(scope="module")
def rare_lake_all_false(tmp_path_factory):
    """The same traffic from a Zeek whose local_nets missed every host: local_orig = local_resp = F everywhere."""
    root = tmp_path_factory.mktemp("raredest_f")
    rare_fixture(root / "logs", local=("F", "F"))
    ingest([root / "logs"], root / "lake")
    return root / "lake"


# ------------------------------------------------------------------------------ helpers


def test_registered_domain_and_entropy():
    assert registered_domain_py("a.b.example.com") == "example.com"
    assert registered_domain_py("x.shop.co.uk.") == "shop.co.uk"
    assert registered_domain_py("co.uk") == "co.uk"
    assert registered_domain_py("wpad") == "wpad"
    assert registered_domain_py("a.dyn.example", ("dyn.example",)) == "a.dyn.example"
    assert entropy("") == 0.0 and entropy("aaaa") == 0.0 and entropy("abcd") == 2.0


def test_network_tests_match_python():
    import ibis

    from winnow.detections._networks import NOT_ROUTED, in_networks

    cidrs = ("10.0.0.0/8", "172.16.0.0/12", "fc00::/7", "64.225.56.201/32", "100.64.0.0/10", *NOT_ROUTED)
    ips = [
        "10.1.2.3",
        "172.31.0.1",
        "172.32.0.1",
        "172.15.9.9",
        "fd12:3456::1",
        "FD12::1",
        "fe80::1",
        "FEBF::1",
        "fec0::1",
        "ff02::1:3",
        "::1",
        "::",
        "64.225.56.201",
        "64.225.56.20",
        "100.127.0.1",
        "100.128.0.1",
        "224.0.0.251",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "8.8.8.8",
        "2001:db8::1",
        "127.0.0.1",
        "169.254.1.1",
        "0.0.0.0",
    ]
    t = ibis.memtable({"ip": ips})
    got = dict(zip(ips, t.select(hit=in_networks(t.ip, cidrs)).to_pyarrow()["hit"].to_pylist(), strict=True))
    assert got == {ip: in_networks_py(ip, cidrs) for ip in ips}
    assert got["172.31.0.1"] and not got["172.32.0.1"] and got["FD12::1"] and not got["fec0::1"]
    with pytest.raises(WinnowError, match="bad network"):
        in_networks(t.ip, ("10.0.0.0/33",))


# ------------------------------------------------------------------------------ known answers


@pytest.mark.parametrize("url", ENGINES)
def test_dns_tunnel_known_answer(dns_lake, url):
    with connect(url, dns_lake) as engine:
        findings = get_detector("dns_tunnel").find(engine, Window())
    top = findings[0].to_dict()
    assert list(top) == list(FINDING_FIELDS)
    assert top["entity"] == "10.0.0.66->exfil-demo.net" and top["src"] == "10.0.0.66"
    ev = top["evidence"]
    assert ev["domain"] == "exfil-demo.net" and ev["unique_subdomains"] == 300 and ev["queries"] == 300
    assert ev["qtypes"] == {"TXT": 300} and ev["answers_connected"] == 0 and ev["answer_addresses"] == 0
    assert ev["mean_label_len"] == 40.0 and ev["entropy"] > 4.2
    assert top["score"] > 0.8 and top["severity"] == "high"
    assert "300 TXT queries for 300 unique random-looking names under exfil-demo.net" in top["why"]
    assert "30 min" in top["why"] and "no address" in top["why"]
    assert set(top["components"]) == {"names", "rate", "length", "entropy", "qtype", "unconnected", "rarity"}
    others = {f.evidence["domain"]: f for f in findings[1:]}
    # the hashed-CDN trap: random-looking names, but A queries whose answers are connected to, by 5 hosts
    assert set(others) == {"fastcdn-demo.com"}
    cdn = others["fastcdn-demo.com"]
    assert (
        cdn.score < 0.35
        and cdn.evidence["answers_connected"] == 20
        and cdn.evidence["hosts_querying_domain"] == 5
    )
    assert all("arpa" not in f.entity for f in findings)  # PTR sweeps are ignored, probes are single labels


def test_dns_tunnel_parameters(dns_lake):
    with connect("duckdb", dns_lake) as engine:
        assert get_detector("dns_tunnel", min_subdomains=301).find(engine, Window()) == []
        ptr = get_detector("dns_tunnel", ignore_domains=()).find(engine, Window())
        # in-addr.arpa is a public suffix (each /8 is delegated on its own): the sweep groups under 192
        assert "10.0.0.10->192.in-addr.arpa" in {f.entity for f in ptr}
        assert len(get_detector("dns_tunnel", limit=1).find(engine, Window())) == 1


@pytest.mark.parametrize("url", ENGINES)
def test_rare_dest_known_answer(rare_lake, url):
    with connect(url, rare_lake) as engine:
        findings = get_detector("rare_dest").find(engine, Window())
    entities = [f.entity for f in findings]
    assert entities[:2] == ["10.0.0.7->198.51.100.66", "10.0.0.8->198.51.100.77"]
    top = findings[0].to_dict()
    assert list(top) == list(FINDING_FIELDS) and top["dport"] == 443
    ev = top["evidence"]
    assert ev["hosts_contacting_dst"] == 1 and ev["active_hosts"] == 20 and ev["connections"] == 100
    assert ev["ja3"] == JA3_C2 and ev["ja3_hosts"] == 1 and ev["server_name"] is None
    assert ev["validation_status"] == "self signed certificate" and ev["bytes"] == 80_000
    assert ev["first_seen"] == "2026-11-02T08:20:00Z" and ev["user_agent"] is None
    assert "(no SNI) 100 times" in top["why"] and f"JA3 {JA3_C2} is used by no other source" in top["why"]
    http = findings[1]
    assert http.dport == 80 and http.evidence["user_agent"] == "Modzilla/0.0001 (Atari 7800)"
    assert "'Modzilla/0.0001 (Atari 7800)' is used by no other source" in http.why
    noise = findings[entities.index("10.0.0.9->192.0.2.200")]
    assert noise.score < 0.5 < findings[1].score
    assert not {"203.0.113.10", "203.0.113.20", "10.0.0.2", "239.255.255.250", "10.0.0.5"} & {
        f.dst for f in findings
    }


def test_rare_dest_directions_and_errors(rare_lake):
    with connect("duckdb", rare_lake) as engine:
        inbound = get_detector("rare_dest", direction="inbound").find(engine, Window())
        assert [f.entity for f in inbound] == []  # one external source: no population to stack over
        both = get_detector("rare_dest", direction="any").find(engine, Window())
        assert {f.evidence["direction"] for f in both} == {"outbound"}
        with pytest.raises(WinnowError, match="direction"):
            get_detector("rare_dest", direction="sideways").find(engine, Window())
        with pytest.raises(WinnowError, match="--set networks.internal=2001:0:abcd::/48: networks.internal"):
            load(sets=["networks.internal=2001:0:abcd::/48"])  # caught where it is written, before any detector
        with use(Config({"networks.internal": ("2001:0:abcd::/48",)})), pytest.raises(WinnowError,
                                                                                       match="networks.internal"):
            get_detector("rare_dest").find(engine, Window())  # and by the detector for a Config built by hand


# DuckDB only: four runs under different settings; the same internal test runs on Spark in
# test_networks.py::test_setting_networks_internal_changes_who_is_internal, and rare_dest's parity in test_detections
@pytest.mark.parametrize("url", ["duckdb"])
def test_rare_dest_follows_networks_internal_when_flags_say_nothing(rare_lake, rare_lake_all_false, url):
    """All-false flags are set aside (networks.internal decides); flags that mark hosts local win over it."""
    def entities(lake, *sets):
        with use(load(sets=sets)), connect(url, lake) as engine:
            return [(f.entity, f.score) for f in get_detector("rare_dest").find(engine, Window())]

    flagged = entities(rare_lake)
    assert entities(rare_lake_all_false) == flagged  # the default networks say what the flags would have said
    assert entities(rare_lake, "networks.internal=10.0.0.7/32") == flagged  # the sensor's flags win
    with use(load(sets=["networks.internal=10.0.0.7/32"])), connect(url, rare_lake_all_false) as engine:
        alone = get_detector("rare_dest").find(engine, Window())
    # a single internal source: nothing is rare; only the missing SNI and the self-signed cert count
    assert [f.entity for f in alone] == ["10.0.0.7->198.51.100.66"]
    assert alone[0].components["dst"] == alone[0].components["ja3"] == 0 and alone[0].components["cert"] == 1


# ------------------------------------------------------------------------------ real data


def _lake(tmp_path_factory, name: str, paths: list[Path]) -> Path:
    root = tmp_path_factory.mktemp(name)
    ingest(paths, root / "lake")
    return root / "lake"


def test_rita_dnscat_ranks_first(shared_data, tmp_path_factory):
    lake = _lake(
        tmp_path_factory,
        "rita_json",
        [shared_data / "rita-zeek-beacon/json_with_all_fields/dns.log"],
    )
    with connect("duckdb", lake) as engine:
        findings = get_detector("dns_tunnel").find(engine, Window())
    assert findings[0].entity == "192.168.88.2->r-1x.com"
    assert findings[0].evidence["qtypes"] == {"TXT": 24} and findings[0].evidence["unique_subdomains"] == 23


def test_resolver_cdn_names_are_not_tunnels(shared_data, tmp_path_factory):
    lake = _lake(tmp_path_factory, "proxy_rolling", [shared_data / "rita-zeek-beacon/proxy_rolling"])
    with connect("duckdb", lake) as engine:
        findings = get_detector("dns_tunnel").find(engine, Window())
    # the LAN's resolver asks for everyone; CDN and cloud names are their customers' own registered
    # domains under the Public Suffix List's private section, not thousands of one provider's subdomains
    cdns = {"cloudfront.net", "akamaiedge.net", "akamai.net", "akadns.net", "fastly.net", "edgekey.net"}
    assert not {f.dst for f in findings} & cdns
    assert len(findings) == 4 and all(f.score < 0.2 for f in findings)


def test_simda_dga_is_not_a_tunnel(shared_data, tmp_path_factory):
    folder = shared_data / "stratosphere/security-datasets-for-testing/005-zeek-scenario-malicious"
    lake = _lake(tmp_path_factory, "simda", [folder / "dns.log", folder / "conn.log"])
    with connect("duckdb", lake) as engine:
        findings = get_detector("dns_tunnel", min_subdomains=1).find(engine, Window())
    assert all(f.score < 0.3 for f in findings)  # DGA names are registered domains, not subdomains


def test_missing_host_rare_user_agent(shared_data, tmp_path_factory):
    root = shared_data / "rita-zeek-beacon/missing_host"
    files = sorted(p for p in root.rglob("*.log.gz") if p.name.split(".")[0] in ("conn", "http", "ssl"))
    lake = _lake(tmp_path_factory, "missing_host", files)
    with connect("duckdb", lake) as engine:
        # the sensor's Site::local_nets is the droplet itself: its flags say so, no setting needed
        findings = get_detector("rare_dest", direction="any").find(engine, Window())
    top = [f.entity for f in findings[:5]]
    assert "73.54.23.243->64.225.56.201" in top
    pair = findings[top.index("73.54.23.243->64.225.56.201")]
    assert pair.evidence["user_agent"] == "Modzilla/0.0001 (Atari 7800)" and pair.evidence["ua_hosts"] == 1
    assert pair.evidence["direction"] == "inbound"


def test_mordor_apt29_c2_ranks_first(shared_data, tmp_path_factory):
    lake = _lake(
        tmp_path_factory,
        "apt29",
        [shared_data / "mordor/apt29/day1/zeek", shared_data / "mordor/apt29/day2/zeek"],
    )
    with use(load(sets=["networks.internal=10.0.0.0/8"])), connect("duckdb", lake) as engine:  # no flags in Mordor
        findings = get_detector("rare_dest").find(engine, Window())
    assert {f.dst for f in findings[:3]} == {"192.168.0.4", "192.168.0.5"}
    ja3s = {f.evidence["ja3"] for f in findings[:3]}
    assert {"c12f54a3f91dc7bafd92cb59fe009a35", "e0fe397a5edfba9a6facc7c7b341f4eb"} <= ja3s


# ------------------------------------------------------------------------------ simulation


@pytest.mark.slow
def test_simulated_tunnel_beacons_and_upload(tmp_path):
    from winnow.sim import simulate

    simulate(tmp_path / "logs", hosts=100, days=1, seed=5)
    truth = json.loads((tmp_path / "logs" / "truth.json").read_text())
    ingest([tmp_path / "logs"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        tunnels = get_detector("dns_tunnel", min_subdomains=3).find(engine, Window())
        rare = get_detector("rare_dest").find(engine, Window())
    tunnel = truth["dns_tunnels"][0]
    assert tunnels[0].src == tunnel["src"] and tunnel["domain"].endswith(tunnels[0].evidence["domain"])
    assert tunnels[0].score > 0.9 and tunnels[1].score < 0.3
    rank = {(f.src, f.dst): i for i, f in enumerate(rare)}
    planted = [(b["src"], b["dst"]) for b in truth["beacons"] + truth["large_uploads"]]
    assert all(rank.get(p, 999) < len(planted) + 6 for p in planted), [rank.get(p) for p in planted]

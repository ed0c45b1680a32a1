"""Tests of `winnow.sim`: determinism, Zeek TSV validity, truth consistency with the written logs."""

from __future__ import annotations

import ipaddress
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from winnow.sim import simulate
from winnow.sim.core import build_world

LOGS = ("conn", "dns", "http", "ssl")
DAY = "2026-11-02"
HEADER_KEYS = (
    "#separator",
    "#set_separator",
    "#empty_field",
    "#unset_field",
    "#path",
    "#open",
    "#fields",
    "#types",
)


def read_zeek(path: Path) -> tuple[list[str], list[str], list[dict[str, str]], list[str]]:
    """Header lines, field names, rows as dicts and trailing `#` lines of a Zeek TSV log."""
    head: list[str] = []
    tail: list[str] = []
    rows: list[dict[str, str]] = []
    fields: list[str] = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                (tail if rows else head).append(line)
                if line.startswith("#fields\t"):
                    fields = line.split("\t")[1:]
                continue
            values = line.split("\t")
            assert len(values) == len(fields), f"{path.name}: {len(values)} fields, header has {len(fields)}"
            rows.append(dict(zip(fields, values, strict=True)))
    return head, fields, rows, tail


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("sim")
    calls: list[tuple[int, int]] = []
    summary = simulate(out, hosts=50, days=1, seed=7, progress=lambda d, t: calls.append((d, t)))
    logs = {log: read_zeek(out / "zeek" / DAY / f"{log}.log") for log in LOGS}
    truth = json.loads((out / "truth.json").read_text())
    return {"out": out, "summary": summary, "logs": logs, "truth": truth, "calls": calls}


def rows(sim: dict, log: str) -> list[dict[str, str]]:
    return sim["logs"][log][2]


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    simulate(tmp_path / "a", hosts=12, seed=3)
    simulate(tmp_path / "b", hosts=12, seed=3)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert len(files_a) == 9  # zeek conn, dns, http, ssl; sysmon.json, audit.log, security.json; truth.json,
    # endpoint_truth.parquet
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_different_seeds_give_different_truth() -> None:
    _, t0 = build_world(50, 1, 0, DAY)
    _, t1 = build_world(50, 1, 1, DAY)
    pairs0 = {(b["src"], b["dst"], b["jitter"]) for b in t0["beacons"]}
    pairs1 = {(b["src"], b["dst"], b["jitter"]) for b in t1["beacons"]}
    assert pairs0 != pairs1
    assert t0["scanners"] != t1["scanners"]


def test_headers_match_zeek_layout(sim: dict) -> None:
    for log in LOGS:
        head, fields, _, tail = sim["logs"][log]
        assert [h.split("\t")[0].split(" ")[0] for h in head] == list(HEADER_KEYS)
        assert head[0] == "#separator \\x09"
        assert head[1:4] == ["#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-"]
        assert head[4] == f"#path\t{log}"
        assert head[5] == "#open\t2026-11-02-00-00-00"
        assert tail == ["#close\t2026-11-03-00-00-00"]
        assert fields[:6] == ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
        assert "_node_name" not in fields
        assert len(head[7].split("\t")) == len(head[6].split("\t"))
    conn_fields = sim["logs"]["conn"][1]
    assert conn_fields[-1] == "tunnel_parents" and len(conn_fields) == 21
    assert sim["logs"]["ssl"][1][-2:] == ["ja3", "ja3s"]


def _check_value(value: str, typ: str) -> None:
    if value == "-":
        return
    if typ == "time" or typ == "interval":
        whole, frac = value.split(".")
        assert whole.isdigit() and len(frac) == 6, value
    elif typ in ("count", "port"):
        assert value.isdigit(), value
    elif typ == "bool":
        assert value in ("T", "F"), value
    elif typ == "addr":
        ipaddress.ip_address(value)  # IPv4, or IPv6 for link-local multicast (mDNS, LLMNR)
    elif typ == "vector[interval]":
        for item in value.split(","):
            _check_value(item, "interval")
    elif typ.startswith("set[") and value != "(empty)":
        assert value, typ


def test_values_parse_as_their_zeek_types(sim: dict) -> None:
    for log in LOGS:
        head, fields, data, _ = sim["logs"][log]
        types = dict(zip(fields, head[7].split("\t")[1:], strict=True))
        assert data, log
        for row in data[:: max(1, len(data) // 4000)]:
            for name, value in row.items():
                _check_value(value, types[name])
        assert all(r["uid"].startswith("C") and 16 <= len(r["uid"]) <= 18 for r in data)


def test_rows_sorted_by_ts_and_inside_the_day(sim: dict) -> None:
    for log in LOGS:
        ts = [float(r["ts"]) for r in rows(sim, log)]
        assert ts == sorted(ts), log
        assert 1793577600 - 60 <= ts[0] and ts[-1] < 1793664000 + 60


def test_application_rows_point_at_conn_rows(sim: dict) -> None:
    key = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
    conn = {r["uid"]: tuple(r[k] for k in key) for r in rows(sim, "conn")}
    assert len(conn) == len(rows(sim, "conn")), "uids must be unique"
    for log in ("dns", "http", "ssl"):
        for r in rows(sim, log):
            assert conn.get(r["uid"]) == tuple(r[k] for k in key), (log, r["uid"])


def test_volume_and_diurnal_shape(sim: dict) -> None:
    conn = rows(sim, "conn")
    gateways = {"10.1.0.1"}  # DHCP offers come from the gateway
    per_host = Counter(r["id.orig_h"] for r in conn if r["id.orig_h"].startswith("10.1.") and
                       r["id.orig_h"] not in gateways)
    assert len(per_host) == 50
    assert 1500 <= statistics.median(per_host.values()) <= 4000
    hours = Counter(int((float(r["ts"]) - 1793577600) // 3600) for r in conn)
    assert sum(hours[h] for h in range(10, 15)) > 4 * sum(hours[h] for h in range(0, 5))
    dead = {(s["src"], s["dst"]) for s in sim["truth"]["c2_shapes"] if s["kind"] == "replyless_c2"}
    ordinary = [r for r in conn if r["history"] != "D" and (r["id.orig_h"], r["id.resp_h"]) not in dead]
    states = Counter(r["conn_state"] for r in ordinary)  # without one-way multicast and the dead C2
    assert states["SF"] / len(ordinary) > 0.9 and states["S0"] and states["REJ"] and states["RSTO"]
    assert sum(1 for r in rows(sim, "dns") if r["rcode_name"] == "NXDOMAIN") > 100


def test_truth_has_the_scorer_shape(sim: dict) -> None:
    truth = sim["truth"]
    for key in ("beacons", "rare_benign_periodic", "fumblers", "scanners", "dns_tunnels", "large_uploads"):
        assert isinstance(truth[key], list) and truth[key], key
    assert truth["seed"] == 7 and truth["hosts"] == 50 and truth["days"] == 1 and truth["start"] == DAY
    assert truth["internal_cidr"] == "10.0.0.0/8"
    assert 6 <= len(truth["beacons"]) <= 12
    for b in truth["beacons"]:
        assert {"src", "dst", "period", "jitter", "dport", "kind"} <= set(b)
        assert 30 <= b["period"] <= 3600 and 0 <= b["jitter"] <= 0.5 and 0 <= b["miss_rate"] <= 0.3
    assert any(b["period"] == 3600 for b in truth["beacons"])
    for entry in truth["rare_benign_periodic"] + truth["fumblers"]:
        assert {"src", "dst"} <= set(entry)
    assert {s["kind"] for s in truth["scanners"]} == {"horizontal", "vertical"}
    positives = {(b["src"], b["dst"]) for b in truth["beacons"]}
    neutral = {(e["src"], e["dst"]) for e in truth["rare_benign_periodic"] + truth["fumblers"]}
    assert len(positives) == len(truth["beacons"]) and not positives & neutral


def _pair_times(sim: dict) -> dict[tuple[str, str], list[tuple[float, int]]]:
    out: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for r in rows(sim, "conn"):
        size = sum(int(r[k]) for k in ("orig_bytes", "resp_bytes") if r[k] != "-")
        out[(r["id.orig_h"], r["id.resp_h"])].append((float(r["ts"]), size))
    return out


def test_beacons_appear_with_their_period(sim: dict) -> None:
    pairs = _pair_times(sim)
    for b in sim["truth"]["beacons"]:
        conns = pairs[(b["src"], b["dst"])]
        assert len(conns) == b["connections"], b
        window = b["window"]
        hours = window["end_hour"] - window["start_hour"]
        expected = hours * 3600 / b["period"] * (1 - b["miss_rate"])
        callbacks = sorted(t for t, size in conns if size < 20_000)
        assert 0.6 * expected - 3 <= len(callbacks) <= 1.4 * expected + 3, (b, len(callbacks))
        gaps = [y - x for x, y in zip(callbacks, callbacks[1:], strict=False)]
        assert abs(statistics.median(gaps) - b["period"]) <= 0.25 * b["period"], b
        hosts_to_dst = {src for (src, dst) in pairs if dst == b["dst"]}
        assert hosts_to_dst == {b["src"]}


def test_beacon_application_rows(sim: dict) -> None:
    truth = sim["truth"]["beacons"]
    ssl = Counter((r["id.orig_h"], r["id.resp_h"]) for r in rows(sim, "ssl"))
    http = {(r["id.orig_h"], r["id.resp_h"]): r for r in rows(sim, "http")}
    for b in truth:
        if b["kind"] == "https":
            assert ssl[(b["src"], b["dst"])] > 0
        else:
            assert http[(b["src"], b["dst"])]["user_agent"] == b["user_agent"]


def test_scanners_fumblers_and_exfil_look_as_described(sim: dict) -> None:
    truth, conn = sim["truth"], rows(sim, "conn")
    by_src: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in conn:
        by_src[r["id.orig_h"]].append(r)
    for s in truth["scanners"]:
        probes = [r for r in by_src[s["src"]] if r["conn_state"] in ("S0", "REJ") or r["history"] == "ShR"]
        if s["kind"] == "horizontal":
            hit = {r["id.resp_h"] for r in probes if r["id.resp_p"] == str(s["dport"])}
            assert len(hit) >= 200
        else:
            hit = {r["id.resp_p"] for r in probes if r["id.resp_h"] == s["dst"]}
            assert len(hit) >= 1000
    for fum in truth["fumblers"]:
        tries = [r for r in by_src[fum["src"]] if r["id.resp_h"] == fum["dst"]]
        assert len(tries) >= 100 and all(r["conn_state"] in ("S0", "REJ") for r in tries)
        assert all(r["orig_bytes"] in ("0", "-") for r in tries)
    for tun in truth["dns_tunnels"]:
        queries = [
            r for r in rows(sim, "dns") if r["id.orig_h"] == tun["src"] and r["query"].endswith(tun["domain"])
        ]
        assert len(queries) >= 3000 and len({r["query"] for r in queries}) == len(queries)
        assert all(r["qtype_name"] == "TXT" and len(r["query"]) > 40 for r in queries)
    for up in truth["large_uploads"]:
        sent = sum(int(r["orig_bytes"]) for r in by_src[up["src"]] if r["id.resp_h"] == up["dst"])
        assert sent == up["bytes"] >= 2_000_000_000


def _regular_period(times: list[float]) -> float | None:
    """The median gap when at least 80 % of the gaps are within 10 % of it, else None."""
    gaps = [y - x for x, y in zip(times, times[1:], strict=False)]
    if len(gaps) < 10:
        return None
    median = statistics.median(gaps)
    close = sum(1 for g in gaps if abs(g - median) <= 0.1 * median)
    return median if close >= 0.8 * len(gaps) else None


def test_hard_negatives_are_periodic_and_widespread(sim: dict) -> None:
    pairs = _pair_times(sim)
    hosts = {src for src, _ in pairs if src.startswith("10.")}
    by_dst: dict[str, list[list[float]]] = defaultdict(list)
    for (_, dst), conns in pairs.items():
        by_dst[dst].append(sorted(t for t, _ in conns))
    widespread_periodic = []
    for dst, series in by_dst.items():
        if dst.startswith("10.") or len(series) <= 0.5 * len(hosts):
            continue
        periods = [p for p in (_regular_period(s) for s in series) if p]
        if len(periods) > 0.5 * len(hosts):
            widespread_periodic.append((dst, statistics.median(periods)))
    assert widespread_periodic, "expected a destination polled regularly by most hosts"
    assert any(60 <= period <= 3600 for _, period in widespread_periodic)
    assert sim["truth"]["hard_negatives"]


def test_summary_and_progress(sim: dict) -> None:
    summary = sim["summary"]
    assert summary["rows"]["conn"] == len(rows(sim, "conn"))
    assert all(summary["rows"][log] == len(rows(sim, log)) for log in LOGS)
    assert Path(summary["truth"]).exists() and len(summary["files"]) == 4
    calls = sim["calls"]
    assert calls and calls[-1][0] == calls[-1][1] and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert not (sim["out"] / ".winnow-sim-tmp").exists()


def test_two_days_write_one_folder_per_day(tmp_path: Path) -> None:
    summary = simulate(tmp_path, hosts=8, days=2, seed=5, start="2026-11-07")
    assert sorted(p.name for p in (tmp_path / "zeek").iterdir()) == ["2026-11-07", "2026-11-08"]
    assert summary["days"] == 2
    head, _, data, tail = read_zeek(tmp_path / "zeek" / "2026-11-08" / "conn.log")
    assert head[5] == "#open\t2026-11-08-00-00-00" and tail == ["#close\t2026-11-09-00-00-00"]
    assert data


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        simulate(tmp_path, hosts=0)
    with pytest.raises(ValueError):
        simulate(tmp_path, start="2026-13-01")

"""Acceptance on real public Zeek logs (the shared data, see its MANIFEST.md sections 1-3).

Every conn/dns/http/ssl/ssh log must ingest with zero warnings and with exactly as many rows as
the file has data lines; logs of other kinds (x509, notice, ...) must be reported as
skipped with their rows counted. The expected counts are computed here, independently of the
package, with plain Python. Each dataset is ingested once per module into a temporary lake.
"""

from __future__ import annotations

import gzip
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from winnow.ingest import FileReport, ingest

#: Zeek log kinds that have a table, and the table (written out here on purpose, not imported)
TABLE_OF = {
    "conn": "net.conn", "open_conn": "net.open_conn", "dns": "net.dns", "http": "net.http", "ssl": "net.tls",
    "ssh": "auth.logon",
}

DATASETS: dict[str, list[str]] = {
    "missing_host": ["rita-zeek-beacon/missing_host"],
    "json_with_all_fields": ["rita-zeek-beacon/json_with_all_fields"],
    "stratosphere": ["stratosphere"],
    "mordor": [
        "mordor/apt29/day1/zeek",
        "mordor/apt29/day2/zeek",
        "mordor/lsass_campaign_01/*_zeek_logs.zip",
    ],
}


# ---------------------------------------------------------------- independent expectations


@dataclass
class Expected:
    """What one Zeek file holds, counted without the package: data lines per log kind."""

    kinds: Counter = field(default_factory=Counter)
    text: bytes = b""

    @property
    def rows(self) -> dict[str, int]:
        return {TABLE_OF[k]: n for k, n in self.kinds.items() if k in TABLE_OF and n}

    @property
    def skipped(self) -> dict[str, int]:
        return {k: n for k, n in self.kinds.items() if k not in TABLE_OF and n}


def _decompressed(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _stored_files(paths: list[Path]) -> list[tuple[str, bytes]]:
    """(display name, decompressed bytes) of every file and zip member, as ingest names them."""
    out = []
    for given in paths:
        files = [given] if given.is_file() else sorted(p for p in given.rglob("*") if p.is_file())
        for path in files:
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as archive:
                    for name in archive.namelist():
                        out.append((f"{path}!{name}", _decompressed(archive.read(name))))
            else:
                out.append((str(path), _decompressed(path.read_bytes())))
    return out


def _kind_from_name(name: str) -> str:
    stem = name.replace("!", "/").rsplit("/", 1)[-1].split(".", 1)[0]
    return re.sub(r"^[A-Z0-9-]+_", "", stem)  # Mordor prefixes the host: NASHUA_conn


def _count_tsv(text: bytes) -> Counter:
    kinds: Counter = Counter()
    path = None
    for line in text.split(b"\n"):
        if line.startswith(b"#path\t"):
            path = line.split(b"\t", 1)[1].strip().decode()
        elif line.strip() and not line.startswith(b"#"):
            kinds[path] += 1
    return kinds


def _count_json(name: str, text: bytes) -> Counter:
    kinds: Counter = Counter()
    for line in text.split(b"\n"):
        if line.strip():
            obj = json.loads(line)
            kinds[obj.get("_path") or obj.get("@stream") or _kind_from_name(name)] += 1
    return kinds


def _is_zeek_json(text: bytes) -> bool:
    first = text.lstrip().split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and "ts" in obj


def expected_files(paths: list[Path]) -> dict[str, Expected]:
    """Every Zeek file (TSV or JSON lines) under ``paths`` with its data lines per kind."""
    out = {}
    for name, text in _stored_files(paths):
        if text.startswith(b"#separator"):
            out[name] = Expected(_count_tsv(text), text)
        elif _is_zeek_json(text):
            out[name] = Expected(_count_json(name, text), text)
    return out


# ---------------------------------------------------------------- ingest once per dataset


@dataclass
class Ingested:
    lake: Path
    files: dict[str, FileReport]
    expected: dict[str, Expected]

    def table(self, name: str) -> pa.Table:
        """The table read back from the lake's Parquet, limited to the Zeek files."""
        parts = sorted((self.lake / name).glob("day=*/*.parquet"))
        if not parts:
            return pa.table({"_source_file": pa.array([], pa.string())})
        data = pads.dataset(parts, format="parquet").to_table()
        return data.filter(pc.is_in(data["_source_file"], pa.array(sorted(self.expected))))


class Datasets:
    def __init__(self, root: Path, factory: pytest.TempPathFactory) -> None:
        self.root, self.factory = root, factory
        self._done: dict[str, Ingested] = {}

    def __getitem__(self, name: str) -> Ingested:
        if name not in self._done:
            paths = [p for pattern in DATASETS[name] for p in sorted(self.root.glob(pattern))]
            assert paths, f"no files for {name} under {self.root}"
            lake = self.factory.mktemp(f"lake-{name}")
            report = ingest(paths, lake)
            files = {f.file: f for f in report.files}
            self._done[name] = Ingested(lake, files, expected_files(paths))
        return self._done[name]


@pytest.fixture(scope="module")
def datasets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Datasets:
    return Datasets(shared_data, tmp_path_factory)


def _skipped_by_kind(report: FileReport) -> dict[str, int]:
    return {key.split()[-1]: n for key, n in report.skipped.items()}


def extra_dict(value: object) -> dict:
    """The ``extra`` column as a dict, whether stored as JSON text or as a Parquet map."""
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[arg-type]


def _micros(value: Decimal | str) -> int:
    return int((Decimal(value) * 1_000_000).to_integral_value(ROUND_HALF_EVEN))


# ---------------------------------------------------------------- every file, every dataset


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_zeek_file_is_ingested_without_warnings(datasets: Datasets, name: str) -> None:
    got = datasets[name]
    assert got.expected, "the test found no Zeek files"
    problems = []
    for file, want in sorted(got.expected.items()):
        report = got.files.get(file)
        if report is None:
            problems.append(f"{file}: not in the ingest report")
            continue
        actual = (report.status, report.rows, _skipped_by_kind(report), report.warnings)
        wanted = ("ingested", want.rows, want.skipped, 0)
        if actual != wanted:
            problems.append(f"{file}: got {actual} ({report.message}), want {wanted}")
        elif not report.source_format.startswith("zeek"):
            problems.append(f"{file}: read as {report.source_format}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(DATASETS))
def test_lake_holds_exactly_the_data_lines(datasets: Datasets, name: str) -> None:
    got = datasets[name]
    for table in sorted(set(TABLE_OF.values())):
        data = got.table(table)
        want = {f: e.rows[table] for f, e in got.expected.items() if table in e.rows}
        counts = data.group_by("_source_file").aggregate([("_source_file", "count")]).to_pylist()
        have = {row["_source_file"]: row["_source_file_count"] for row in counts}
        assert have == want, table
        assert data.num_rows == sum(want.values())
        if data.num_rows:  # every source line at most once
            keys = data.group_by(["_source_file", "_line"]).aggregate([])
            assert keys.num_rows == data.num_rows, table


@pytest.mark.parametrize("name", list(DATASETS))
def test_no_warning_rows_in_the_lake(datasets: Datasets, name: str) -> None:
    got = datasets[name]
    parts = sorted((got.lake / "ingest_warnings").glob("day=*/*.parquet"))
    if parts:
        rows = pads.dataset(parts, format="parquet").to_table().to_pylist()
        assert [r for r in rows if r["file"] in got.expected] == []


# ---------------------------------------------------------------- concrete values (MANIFEST)


def test_missing_host_beacon_pair_has_950_connections(datasets: Datasets) -> None:
    conn = datasets["missing_host"].table("net.conn")
    pair = conn.filter(
        pc.and_(
            pc.and_(pc.equal(conn["src_ip"], "73.54.23.243"), pc.equal(conn["dst_ip"], "64.225.56.201")),
            pc.equal(conn["dst_port"], 80),
        )
    )
    assert pair.num_rows == 950
    days = Counter(ts.date().isoformat() for ts in pair["ts"].to_pylist())
    assert sorted(days) == ["2024-04-19", "2024-04-20", "2024-04-21"]


def test_missing_host_ssh_brute_force_counts(datasets: Datasets) -> None:
    conn = datasets["missing_host"].table("net.conn")
    ssh = conn.filter(pc.equal(conn["dst_port"], 22))
    assert ssh.num_rows == 17_813
    assert len(pc.unique(ssh["src_ip"])) == 767


def _ssh_auth_success(text: bytes) -> Counter:
    """auth_success values of a Zeek TSV ssh.log, read with plain Python."""
    values: Counter = Counter()
    column = None
    for line in text.split(b"\n"):
        if line.startswith(b"#fields\t"):
            column = line.split(b"\t")[1:].index(b"auth_success")
        elif line and not line.startswith(b"#") and column is not None:
            values[line.split(b"\t")[column].decode()] += 1
    return values


def test_missing_host_ssh_log_is_auth_logon(datasets: Datasets) -> None:
    got = datasets["missing_host"]
    want: Counter = Counter()
    for file, expected in got.expected.items():
        if "/ssh." in file:
            want.update(_ssh_auth_success(expected.text))
    assert want["F"] == 3_630  # MANIFEST
    logon = got.table("auth.logon")
    outcomes = Counter(logon["outcome"].to_pylist())
    assert outcomes == {"failure": want["F"], "unknown": want["-"]}
    assert set(logon["action"].to_pylist()) == {"logon"}
    assert set(logon["logon_type"].to_pylist()) == {"ssh"}
    first = logon.filter(pc.equal(logon["outcome"], "failure")).slice(0, 1).to_pylist()[0]
    assert first["dst_ip"] == "64.225.56.201" and first["dst_port"] == 22
    assert {"uid", "client", "server", "direction"} <= set(extra_dict(first["extra"]))


def test_stratosphere_ssh_logs(datasets: Datasets) -> None:
    logon = datasets["stratosphere"].table("auth.logon")
    json_ssh = logon.filter(pc.match_substring(logon["_source_file"], "004-zeek-scenario-ssh/ssh.log"))
    assert json_ssh.num_rows == 396  # MANIFEST: JSON without auth_success
    assert set(json_ssh["outcome"].to_pylist()) == {"unknown"}
    assert set(json_ssh["attempts"].to_pylist()) == {0}  # auth_attempts is there, and 0
    honeypot = logon.filter(pc.match_substring(logon["_source_file"], "006-zeek-scenario-ssh/ssh.log"))
    assert Counter(honeypot["outcome"].to_pylist()) == {"success": 9, "failure": 1}  # MANIFEST


def test_missing_host_ts_equals_source_to_the_microsecond(datasets: Datasets) -> None:
    got = datasets["missing_host"]
    file = next(f for f in sorted(got.expected) if "/conn." in f)
    source = got.expected[file].text.split(b"\n")
    fields = next(ln for ln in source if ln.startswith(b"#fields")).split(b"\t")[1:]
    ts_col = fields.index(b"ts")
    want = {
        i + 1: _micros(ln.split(b"\t")[ts_col].decode())
        for i, ln in enumerate(source)
        if ln and not ln.startswith(b"#")
    }
    conn = got.table("net.conn")
    rows = conn.filter(pc.equal(conn["_source_file"], file))
    have = dict(zip(rows["_line"].to_pylist(), pc.cast(rows["ts"], pa.int64()).to_pylist(), strict=True))
    assert have == want


def test_stratosphere_relative_ts_and_labels(datasets: Datasets) -> None:
    got = datasets["stratosphere"]
    conn = got.table("net.conn")
    njrat = conn.filter(
        pc.match_substring(conn["_source_file"], "001-zeek-scenario-malicious/labeled-conn.log")
    )
    assert njrat.num_rows == 1000 - 8  # 1,000 lines minus the 8-line header
    first = njrat.filter(pc.equal(njrat["_line"], 9)).to_pylist()[0]
    assert (
        pc.cast(pa.array([first["ts"]]), pa.int64())[0].as_py() == 19_981_745
    )  # "19.981745": relative seconds
    c2 = njrat.filter(pc.and_(pc.equal(njrat["dst_ip"], "41.108.179.197"), pc.equal(njrat["dst_port"], 1177)))
    assert c2.num_rows == 237
    assert all(extra_dict(e)["label"] == "Malicious" for e in c2["extra"].to_pylist())
    scan = conn.filter(pc.match_substring(conn["_source_file"], "002-zeek-scenario-port-scanning/conn.log"))
    states = Counter(scan["conn_state"].to_pylist())
    assert (scan.num_rows, states["S0"], states["REJ"], states["OTH"]) == (4504, 2409, 1273, 652)


def test_mordor_sensor_and_envelope(datasets: Datasets) -> None:
    got = datasets["mordor"]
    file = next(f for f in got.expected if f.endswith("day1/zeek/NASHUA_conn.log"))
    systems = Counter(json.loads(ln)["@system"] for ln in got.expected[file].text.splitlines() if ln.strip())
    conn = got.table("net.conn")
    nashua = conn.filter(pc.equal(conn["_source_file"], file))
    assert Counter(nashua["sensor"].to_pylist()) == systems
    extras = [extra_dict(e) for e in nashua["extra"].to_pylist()]
    assert all(e["@stream"] == "conn" and e["@proc"] == "zeek" for e in extras)


def test_mordor_json_ts_equals_source_to_the_microsecond(datasets: Datasets) -> None:
    got = datasets["mordor"]
    file = next(f for f in got.expected if f.endswith("day2/zeek/UTICA-A_conn.log"))
    lines = got.expected[file].text.split(b"\n")
    want = {
        i + 1: _micros(json.loads(ln, parse_float=Decimal)["ts"]) for i, ln in enumerate(lines) if ln.strip()
    }
    conn = got.table("net.conn")
    rows = conn.filter(pc.equal(conn["_source_file"], file))
    assert (
        dict(zip(rows["_line"].to_pylist(), pc.cast(rows["ts"], pa.int64()).to_pylist(), strict=True)) == want
    )


def test_mordor_day1_c2_over_tls(datasets: Datasets) -> None:
    tls = datasets["mordor"].table("net.tls")
    c2 = tls.filter(pc.and_(pc.equal(tls["src_ip"], "10.0.1.6"), pc.equal(tls["dst_ip"], "192.168.0.4")))
    c2 = c2.filter(pc.equal(c2["dst_port"], 8443))
    assert c2.num_rows == 376
    assert set(c2["ja3"].to_pylist()) == {"e0fe397a5edfba9a6facc7c7b341f4eb"}
    assert any("CN=rempel.group.net" in (s or "") for s in c2["subject"].to_pylist())


def test_mordor_lsass_zip_members_are_named_archive_bang_member(datasets: Datasets) -> None:
    got = datasets["mordor"]
    members = {f.rsplit("!", 1)[1] for f in got.expected if "!" in f}
    assert {"conn.log", "dns.log", "http.log", "ssl.log", "x509.log"} <= members
    conn = got.table("net.conn")
    lsass = conn.filter(pc.match_substring(conn["_source_file"], "_zeek_logs.zip!conn.log"))
    talkers: Counter = Counter()  # payload bytes both ways per (src, dst, dport)
    for row in lsass.to_pylist():
        key = (row["src_ip"], row["dst_ip"], row["dst_port"])
        talkers[key] += (row["src_bytes"] or 0) + (row["dst_bytes"] or 0)
    assert talkers.most_common(1)[0][0] == ("192.168.1.41", "10.0.5.13", 8080)

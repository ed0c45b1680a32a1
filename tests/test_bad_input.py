"""Bad input met on real captures (issue 10): damaged archives, cut files, invalid values, tar archives.

Every fixture is built here, in a temporary folder; the truncated EVTX is cut from a shared file.
"""

from __future__ import annotations

import bz2
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from winnow.ingest import ingest

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\n"
)
HEADER_LINES = HEADER.count("\n")


def conn_log(rows: int, salt: int = 0) -> bytes:
    """A Zeek TSV conn log of ``rows`` good connections (``salt`` makes its content differ)."""
    body = "".join(f"{1_780_000_000 + i}.5\tC{salt}x{i}\t10.0.0.{i % 250 + 1}\t{1024 + i % 60000}\t192.0.2.7\t443"
                   f"\ttcp\t{i}\t{2 * i}\n" for i in range(rows))
    return (HEADER + body).encode()


def rows_of(lake: Path, table: str = "net.conn") -> list[dict]:
    parts = sorted((lake / table).glob("day=*/*.parquet"))
    return pads.dataset(parts, format="parquet").to_table().to_pylist() if parts else []


def warnings_of(lake: Path) -> list[dict]:
    return rows_of(lake, "ingest_warnings")


def corrupt_member(archive: Path, member: str) -> None:
    """Flip bytes in the middle of a deflated zip member's data."""
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 20, start + 60):
        raw[k] ^= 0x5A
    archive.write_bytes(bytes(raw))


# ---------------------------------------------------------------- damaged compressed data


def test_corrupt_zip_member_is_a_warning_and_the_other_files_are_ingested(tmp_path: Path) -> None:
    archive = tmp_path / "logs" / "capture.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.log", conn_log(5, 1))
        z.writestr("broken.log", conn_log(3000, 2))
        z.writestr("c.log", conn_log(7, 3))
    corrupt_member(archive, "broken.log")
    (tmp_path / "logs" / "plain.log").write_bytes(conn_log(4, 4))
    lake = tmp_path / "lake"
    report = ingest([tmp_path / "logs"], lake)
    status = {Path(f.file).name: (f.status, f.total_rows) for f in report.files}
    assert status["capture.zip!a.log"] == ("ingested", 5)
    assert status["capture.zip!c.log"] == ("ingested", 7)
    assert status["plain.log"] == ("ingested", 4)
    assert status["capture.zip!broken.log"][0] == "failed"
    assert len(rows_of(lake)) == 16
    [warning] = [w for w in warnings_of(lake) if w["file"].endswith("broken.log")]
    assert warning["reason"].startswith("compressed data is corrupt")
    again = ingest([tmp_path / "logs"], lake)  # re-running adds nothing, and warns nothing again
    assert {f.status for f in again.files} == {"already ingested"}
    assert len(rows_of(lake)) == 16 and len(warnings_of(lake)) == 1


@pytest.mark.parametrize("cut", ["bz2_no_block", "gzip_cut"])
def test_compressed_file_ending_early_says_so(tmp_path: Path, cut: str) -> None:
    import gzip

    body = conn_log(20_000)
    if cut == "bz2_no_block":
        path, data = tmp_path / "conn.log.bz2", bz2.compress(body)[:300]  # not one complete block
    else:
        path, data = tmp_path / "conn.log.gz", gzip.compress(body)[:-4000]
    path.write_bytes(data)
    lake = tmp_path / "lake"
    [result] = ingest([path], lake).files
    assert "compressed data ends early" in result.message
    assert any("compressed data ends early" in w["reason"] for w in warnings_of(lake))
    if cut == "bz2_no_block":
        assert result.status == "failed"
        [forced] = ingest([path], tmp_path / "lake2", fmt="zeek_tsv").files  # forcing the format says the same
        assert forced.status == "failed" and "compressed data ends early" in forced.message
    else:
        assert result.status == "ingested" and 0 < result.total_rows < 20_000


def flip(data: bytes, at: float, n: int = 20) -> bytes:
    """``data`` with ``n`` bytes flipped from the fraction ``at`` of its length."""
    out = bytearray(data)
    start = int(len(out) * at)
    for k in range(start, start + n):
        out[k] ^= 0x55
    return bytes(out)


@pytest.mark.parametrize("kind", ["bz2", "xz", "zip_crc"])
def test_damage_in_the_middle_keeps_what_came_before_and_warns(tmp_path: Path, kind: str) -> None:
    """(Damaged deflate data often decodes to garbage lines instead: those are bad lines, tested elsewhere.)"""
    import lzma

    body = conn_log(50_000)
    logs = tmp_path / "logs"
    logs.mkdir()
    if kind == "zip_crc":  # a stored member whose bytes no longer match its CRC
        path = logs / "a.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
            z.writestr("conn.log", body)
        raw = path.read_bytes()
        at = raw.index(b"\tC0x40000\t")
        path.write_bytes(raw[: at + 2] + b"9" + raw[at + 3 :])
    else:
        module = {"bz2": bz2, "xz": lzma}[kind]
        path = logs / f"conn.log.{kind}"
        path.write_bytes(flip(module.compress(body), 0.6))
    (logs / "other.log").write_bytes(conn_log(4, 9))
    lake = tmp_path / "lake"
    report = {Path(f.file).name: f for f in ingest([logs], lake).files}
    assert (report["other.log"].status, report["other.log"].total_rows) == ("ingested", 4)
    [damaged] = [f for name, f in report.items() if name != "other.log"]
    assert damaged.status in {"ingested", "failed"} and damaged.total_rows < 50_000
    reasons = [w["reason"] for w in warnings_of(lake) if w["file"] == damaged.file]
    assert any("compressed data" in r and ("corrupt" in r or "ends early" in r) for r in reasons), reasons


def test_encrypted_members_are_each_reported(tmp_path: Path) -> None:
    archive = tmp_path / "secret.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("one.log", b"x")
        z.writestr("two.log", b"y")
    raw = bytearray(archive.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # mark every member encrypted (flag bit 0)
        start = 0
        while (at := raw.find(sig, start)) >= 0:
            flag = at + (6 if sig == b"PK\x03\x04" else 8)
            raw[flag] |= 1
            start = at + 4
    archive.write_bytes(bytes(raw))
    report = ingest([archive], tmp_path / "lake")
    assert [(Path(f.file).name, f.status) for f in report.files] == [
        ("secret.zip!one.log", "failed"), ("secret.zip!two.log", "failed")]
    assert all("encrypted" in f.message for f in report.files)


# ---------------------------------------------------------------- tar archives


@pytest.mark.parametrize("suffix,mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar.bz2", "w:bz2")])
def test_tar_archive_members_are_read_like_zip_members(tmp_path: Path, suffix: str, mode: str) -> None:
    archive = tmp_path / f"logs{suffix}"
    with tarfile.open(archive, mode) as tar:
        # more.log is past ingest.thread_bytes (4 MB): parsed on one thread, written on another
        for name, data in (("zeek/conn.log", conn_log(3, 1)), ("zeek/more.log", conn_log(70_000, 2)),
                           ("README", b"not a log\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    lake = tmp_path / "lake"
    report = ingest([archive], lake)
    status = {f.file: (f.status, f.total_rows) for f in report.files}
    assert status == {f"{archive}!zeek/conn.log": ("ingested", 3), f"{archive}!zeek/more.log": ("ingested", 70_000),
                      f"{archive}!README": ("unrecognized", 0)}
    assert {r["_source_file"] for r in rows_of(lake)} == {f"{archive}!zeek/conn.log", f"{archive}!zeek/more.log"}
    assert not list(tmp_path.glob("**/zeek"))  # nothing extracted to disk
    again = ingest([archive], lake)
    assert [f.status for f in again.files if f.status != "unrecognized"] == ["already ingested"] * 2
    assert len(rows_of(lake)) == 70_003


def test_member_of_a_tar_with_the_same_content_as_a_file_is_already_ingested(tmp_path: Path) -> None:
    (tmp_path / "conn.log").write_bytes(conn_log(3))
    with tarfile.open(tmp_path / "copy.tgz", "w:gz") as tar:
        tar.add(tmp_path / "conn.log", arcname="conn.log")
    lake = tmp_path / "lake"
    ingest([tmp_path / "conn.log"], lake)
    [member] = ingest([tmp_path / "copy.tgz"], lake).files
    assert member.status == "already ingested" and len(rows_of(lake)) == 3


def test_cut_tar_archive_keeps_the_members_before_the_cut(tmp_path: Path) -> None:
    archive = tmp_path / "logs.tar"
    with tarfile.open(archive, "w") as tar:
        for i, rows in enumerate((3, 5000)):
            data = conn_log(rows, i)
            info = tarfile.TarInfo(f"conn{i}.log")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(archive.read_bytes()[:-12_000])
    report = ingest([archive], tmp_path / "lake")
    first = report.files[0]
    assert (first.file, first.status, first.total_rows) == (f"{archive}!conn0.log", "ingested", 3)
    assert all(f.status in {"ingested", "failed"} for f in report.files)
    assert any(f.warnings for f in report.files[1:])


# ---------------------------------------------------------------- invalid values


def test_invalid_port_address_and_count_are_null_with_a_warning(tmp_path: Path) -> None:
    lines = [
        "1780000000.5\tC1\t10.0.0.1\t99999999\t192.0.2.7\t443\ttcp\t10\t20",
        "1780000001.5\tC2\t999.1.2.3\t1024\t192.0.2.7\t-1\ttcp\t10\t20",
        "1780000002.5\tC3\t10.0.0.1\t1024\t2001:db8::zz\t443\ttcp\t-5\t20",
        "1780000003.5\tC4\tfe80::1%eth0\t1024\t2001:db8::1\t443\ttcp\t10\t20",
    ]
    path = tmp_path / "conn.log"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    [result] = ingest([path], lake).files
    assert (result.status, result.total_rows, result.warnings) == ("ingested", 4, 5)
    rows = {r["uid"]: r for r in rows_of(lake)}
    assert rows["C1"]["src_port"] is None and rows["C1"]["dst_ip"] == "192.0.2.7"
    assert rows["C2"]["src_ip"] is None and rows["C2"]["dst_port"] is None
    assert rows["C3"]["dst_ip"] is None and rows["C3"]["src_bytes"] is None and rows["C3"]["dst_bytes"] == 20
    assert rows["C4"]["src_ip"] == "fe80::1%eth0" and rows["C4"]["dst_ip"] == "2001:db8::1"
    first = HEADER_LINES + 1
    assert sorted((w["file"], w["line"], w["reason"]) for w in warnings_of(lake)) == sorted([
        (str(path), first, "field 'src_port': 99999999 is not a port (0-65535); stored as null"),
        (str(path), first + 1, "field 'src_ip': '999.1.2.3' is not an IPv4 or IPv6 address; stored as null"),
        (str(path), first + 1, "field 'dst_port': -1 is not a port (0-65535); stored as null"),
        (str(path), first + 2, "field 'dst_ip': '2001:db8::zz' is not an IPv4 or IPv6 address; stored as null"),
        (str(path), first + 2, "field 'src_bytes': -5 is not a count (negative); stored as null"),
    ])


def test_many_invalid_values_in_a_row_do_not_abandon_the_file(tmp_path: Path) -> None:
    body = "".join(f"{1_780_000_000 + i}.5\tC{i}\t10.0.0.1\t70000\t192.0.2.7\t443\ttcp\t1\t2\n" for i in range(50))
    path = tmp_path / "conn.log"
    path.write_text(HEADER + body)
    [result] = ingest([path], tmp_path / "lake").files
    assert (result.status, result.total_rows, result.warnings) == ("ingested", 50, 50)


@pytest.mark.parametrize("target", ["int32", "int64", "float64"])
def test_text_with_a_few_bad_numbers_converts_column_wise_as_value_by_value(target: str) -> None:
    import pyarrow as pa

    from winnow.sources.coerce import _py_value, coerce

    values = ["1", "-2", " 3 ", "x", "1e2", "2.5", "nan", "inf", "+4", "", None, "70000", "99999999999"] * 50
    kind = getattr(pa, target)()
    got, bad = coerce(pa.array(values), kind)
    expected, expected_bad = [], []
    for i, value in enumerate(values):
        try:
            converted = _py_value(value, kind, ",")
            pa.array([converted], kind)
        except (ValueError, OverflowError, pa.ArrowInvalid):
            converted = None
            expected_bad.append((i, value))
        expected.append(converted)
    assert got.to_pylist() == expected
    assert sorted(bad) == expected_bad


# ---------------------------------------------------------------- noise on standard error


def test_short_zeek_line_with_invalid_utf8_prints_no_exception(tmp_path: Path) -> None:
    path = tmp_path / "conn.log"
    path.write_bytes(conn_log(2) + b"1780000009.5\tC\xff\xfe\t10.0.0.1\n")
    result = subprocess.run([sys.executable, "-m", "winnow.cli.main", "ingest", str(path), "--lake",
                             str(tmp_path / "lake")], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr and "UnicodeDecodeError" not in result.stderr
    assert '"rows": 2' in result.stdout and '"warnings": 1' in result.stdout


_SURROGATE_LINES = {
    "zeek_json": ('{"ts":1700000000.0,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2",'
                  '"id.resp_p":2,"proto":"tcp","service":"%s"}'),
    "snort_json": '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "msg" : "%s" }',
}


@pytest.mark.parametrize("source", sorted(_SURROGATE_LINES))
def test_a_lone_surrogate_escape_is_a_located_warning(tmp_path: Path, source: str) -> None:
    """Valid JSON no UTF-8 text can hold (``\\ud800``): one warning naming the line, the other lines kept."""
    line = _SURROGATE_LINES[source]
    path = tmp_path / ("conn.log" if source == "zeek_json" else "alert_json.txt")  # Zeek JSON: the log from its name
    path.write_text("\n".join([line % "ok", line % "\\ud800", line % "ok"]) + "\n")
    report = ingest([path], tmp_path / "lake", fmt=source)
    [file] = report.files
    assert file.status == "ingested" and file.warnings == 1 and file.total_rows == 2
    rows = pads.dataset(tmp_path / "lake" / "ingest_warnings").to_table()
    assert rows["line"].to_pylist() == [2] and "lone UTF-16 surrogate" in rows["reason"][0].as_py()


# ---------------------------------------------------------------- EVTX cut off mid-copy


def test_truncated_evtx_is_a_warning_with_counts(shared_data: Path, tmp_path: Path) -> None:
    from evtx import PyEvtxParser

    whole = (shared_data / "evtx-parser-corpus" / "security.evtx").read_bytes()
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(whole[: 4096 + 2 * 65536 + 30_000])  # two whole chunks and part of a third
    readable = sum(1 for _ in PyEvtxParser(str(cut)).records())
    lake = tmp_path / "lake"
    [result] = ingest([cut], lake).files
    assert result.rows["win.event"] == readable
    [warning] = warnings_of(lake)
    assert warning["reason"] == (
        "EVTX file is truncated: its header declares 26 chunks, the file holds 2 complete chunks and 30000 bytes "
        f"of another (chunks read: 2); {readable} records recovered, the records of the cut chunk are lost")


def test_whole_evtx_has_no_truncation_warning(shared_data: Path, tmp_path: Path) -> None:
    [result] = ingest([shared_data / "evtx-parser-corpus" / "security.evtx"], tmp_path / "lake").files
    assert (result.rows["win.event"], result.warnings) == (2261, 0)

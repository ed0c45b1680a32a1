"""Zeek TSV and JSON sources on small fixtures named by failure case (tests/data/zeek/).

Clean data must give zero warnings; broken data must give exactly the warnings listed here
(line and reason) and lose nothing else. Compressed, zipped and renamed variants are built
from the fixtures in a temporary folder.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import shutil
import zipfile
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from winnow.errors import WinnowError
from winnow.ingest import FileReport, ingest
from winnow.sources import AbandonFile, ParseContext

PROVENANCE = {"_source_file", "_ingest_id"}
CONN_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2024-04-19-00-00-01\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes"
    "\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes"
    "\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount"
    "\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)


# ---------------------------------------------------------------- helpers


def ingest_file(path: Path, lake: Path, fmt: str | None = None) -> FileReport:
    """Ingest one file and return its report."""
    report = ingest([path], lake, fmt=fmt)
    assert len(report.files) == 1, [f.file for f in report.files]
    return report.files[0]


def lake_rows(lake: Path, table: str, file: Path | str | None = None) -> list[dict]:
    """Rows of ``table`` (optionally of one source file) read back from the Parquet, by line."""
    parts = sorted((lake / table).glob("day=*/*.parquet"))
    if not parts:
        return []
    data = pads.dataset(parts, format="parquet").to_table()
    if file is not None:
        data = data.filter(pc.equal(data["_source_file"], str(file)))
    return sorted(data.to_pylist(), key=lambda r: (r.get("_source_file") or "", r.get("_line") or 0))


def lake_warnings(lake: Path, file: Path | str | None = None) -> list[tuple[int | None, str]]:
    """(line, reason) of every ``ingest_warnings`` row (of one file), sorted."""
    rows = lake_rows(lake, "ingest_warnings")
    return sorted(
        ((r["line"], r["reason"]) for r in rows if file is None or r["file"] == str(file)),
        key=lambda w: (w[0] is None, w[0] or 0, w[1]),
    )


def extra_dict(value: object) -> dict:
    """The ``extra`` column as a dict, whether stored as JSON text or as a Parquet map."""
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[arg-type]


def micros(ts) -> int:
    return pc.cast(pa.array([ts]), pa.int64())[0].as_py()


def data_only(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in PROVENANCE} for r in rows]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


# ---------------------------------------------------------------- clean TSV


def test_valid_conn_tsv(zeek_fixtures: Path, lake: Path) -> None:
    src = zeek_fixtures / "valid_conn.log"
    report = ingest_file(src, lake)
    assert (report.status, report.source_format, report.rows, report.warnings, report.skipped) == (
        "ingested",
        "zeek_tsv",
        {"net.conn": 5},
        0,
        {},
    )
    assert lake_warnings(lake) == []
    rows = lake_rows(lake, "net.conn")
    assert [r["_line"] for r in rows] == [9, 10, 11, 12, 13]
    first = rows[0]
    assert micros(first["ts"]) == 1713484795_943239
    assert {k: first[k] for k in ("uid", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "service")} == {
        "uid": "CYl7H53iN6mY9NyXJ8",
        "src_ip": "10.0.0.5",
        "src_port": 52100,
        "dst_ip": "203.0.113.20",
        "dst_port": 443,
        "proto": "tcp",
        "service": "ssl",
    }
    assert (first["duration"], first["src_bytes"], first["dst_bytes"], first["conn_state"]) == (
        1.234567,
        517,
        4096,
        "SF",
    )
    assert (first["local_orig"], first["local_resp"], first["history"]) == (True, False, "ShADadFf")
    assert (first["src_pkts"], first["src_ip_bytes"], first["dst_pkts"], first["dst_ip_bytes"]) == (
        8,
        849,
        7,
        4468,
    )
    assert (first["_source_format"], first["_source_file"], first["sensor"]) == ("zeek_tsv", str(src), None)
    unset = rows[1]  # "-" is unset: null, not the text "-"
    assert (unset["service"], unset["duration"], unset["src_bytes"], unset["dst_bytes"]) == (
        None,
        None,
        None,
        None,
    )
    assert "tunnel_parents" not in extra_dict(unset["extra"])
    assert extra_dict(first["extra"]) == {"tunnel_parents": ""}  # (empty) is an empty set
    assert extra_dict(rows[3]["extra"]) == {
        "tunnel_parents": "CaBc1xYz,CdEf2xYz"
    }  # a set[string], as Zeek wrote it
    assert (rows[2]["src_ip"], rows[2]["dst_ip"], rows[2]["proto"]) == ("fe80::1", "ff02::fb", "udp")
    assert micros(rows[2]["ts"]) == 1713484801_500000
    assert rows[3]["service"] == "http,ssl"
    assert (rows[4]["src_bytes"], micros(rows[4]["ts"]), rows[4]["duration"]) == (
        123456789012,
        1713488399_999999,
        3600.5,
    )


def test_extra_columns_node_name_and_labels(zeek_fixtures: Path, lake: Path) -> None:
    report = ingest_file(zeek_fixtures / "extra_columns.log", lake)
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": 3}, 0)
    rows = lake_rows(lake, "net.conn")
    assert [r["sensor"] for r in rows] == ["worker-eth0-1", "worker-eth0-2", "worker-eth0-1"]
    extras = [extra_dict(r["extra"]) for r in rows]
    assert [(e["label"], e["detailedlabel"]) for e in extras] == [
        ("Benign", "Microsoft"),
        ("Malicious", "External-Attack-to-Device"),
        ("Background", ""),
    ]
    assert [r["uid"] for r in rows] == ["CYl7H53iN6mY9NyXJ8", "C2sb8D3xXiU7wG1Ld4", "CqW8vV1v0Ubw8RyHj9"]
    assert rows[0]["src_port"] == 52100  # columns are matched by name, not position


def test_unknown_log_kind_is_skipped_not_warned(zeek_fixtures: Path, tmp_path: Path, lake: Path) -> None:
    src = tmp_path / "snmp.log"  # the ssh fixture relabelled as a kind no table takes
    src.write_text((zeek_fixtures / "unknown_log.log").read_text().replace("#path\tssh", "#path\tsnmp"))
    report = ingest_file(src, lake)
    assert (report.status, report.rows, report.skipped, report.warnings) == (
        "ingested",
        {},
        {"zeek snmp": 3},
        0,
    )
    assert lake_warnings(lake) == []
    assert not (lake / "net.conn").exists()


def test_ssh_log_goes_to_auth_logon(zeek_fixtures: Path, tmp_path: Path, lake: Path) -> None:
    src = zeek_fixtures / "unknown_log.log"  # an ssh.log: F with 1 and 3 attempts, unset with 0 attempts
    report = ingest_file(src, lake)
    assert (report.status, report.rows, report.skipped, report.warnings) == ("ingested", {"auth.logon": 3}, {}, 0)
    rows = lake_rows(lake, "auth.logon")
    got = [(r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["outcome"], r["attempts"]) for r in rows]
    assert got == [
        ("170.64.237.193", 40000, "64.225.56.201", 22, "failure", 1),
        ("170.64.237.193", 40002, "64.225.56.201", 22, "failure", 3),
        ("203.0.113.50", 50000, "64.225.56.201", 22, "unknown", 0),
    ]
    assert {(r["action"], r["method"], r["logon_type"], r["host"]) for r in rows} == {("logon", "ssh", "ssh", None)}
    assert extra_dict(rows[0]["extra"]) == {
        "uid": "CsshA1", "version": "2", "client": "SSH-2.0-Go", "server": "SSH-2.0-OpenSSH_8.9p1",
    }
    # JSON, one record with auth_success true and no auth_attempts, one without either field
    json_src = tmp_path / "ssh.json"
    common = {"id.orig_h": "10.0.0.5", "id.orig_p": 50000, "id.resp_h": "10.0.0.9", "id.resp_p": 22}
    json_src.write_text(
        json.dumps({"ts": 1713484795.5, "uid": "Cj1", **common, "auth_success": True, "client": "SSH-2.0-x"}) + "\n"
        + json.dumps({"ts": 1713484796.5, "uid": "Cj2", **common, "client": "SSH-2.0-Go"}) + "\n"
    )
    report = ingest_file(json_src, tmp_path / "lake2")
    assert (report.source_format, report.rows, report.warnings) == ("zeek_json", {"auth.logon": 2}, 0)
    rows = lake_rows(tmp_path / "lake2", "auth.logon")
    assert [(r["outcome"], r["attempts"]) for r in rows] == [("success", 1), ("unknown", 1)]


# ---------------------------------------------------------------- broken TSV


def test_truncated_tsv(zeek_fixtures: Path, lake: Path) -> None:
    src = zeek_fixtures / "truncated.log"
    report = ingest_file(src, lake)
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": 3}, 1)
    assert lake_warnings(lake, src) == [
        (12, "line has 12 fields, header declares 21: cut off (file truncated?)")
    ]
    assert [r["_line"] for r in lake_rows(lake, "net.conn")] == [9, 10, 11]


def test_bad_lines_tsv(zeek_fixtures: Path, lake: Path) -> None:
    src = zeek_fixtures / "bad_lines.log"
    report = ingest_file(src, lake)
    assert lake_warnings(lake, src) == [
        (10, "line has 22 fields, header declares 21: too many fields"),
        (11, "line has 18 fields, header declares 21: cut off (file truncated?)"),
        (12, "field 'src_port': cannot read 'abc' as int32"),
        (13, "invalid UTF-8, undecodable bytes replaced"),
    ]
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": 5}, 4)
    rows = {r["_line"]: r for r in lake_rows(lake, "net.conn")}
    assert sorted(rows) == [9, 12, 13, 14, 15]  # only the lines with the wrong number of fields are lost
    assert (rows[12]["src_port"], rows[12]["dst_port"], rows[12]["uid"]) == (None, 8443, "CtPZjS20MLrsMUOJi2")
    assert rows[13]["uid"] == "CmES5u32\ufffd\ufffdYpV7" and rows[13]["src_bytes"] == 123456789012
    # a lone carriage return neither splits the line nor survives raw: it is escaped the way Zeek escapes it
    assert (rows[14]["uid"], rows[14]["history"], rows[14]["src_pkts"]) == ("CloneCR000000001", "S\\x0dR", 1)
    assert rows[15]["uid"] == "CgoodLast0000001"
    snippets = {r["line"]: r["snippet"] for r in lake_rows(lake, "ingest_warnings")}
    assert snippets[12] == "abc" and snippets[11].startswith("1713484801.5\\tCqW8vV1v0Ubw8RyHj9\\t")


def test_run_of_bad_lines_abandons_the_file(tmp_path: Path, lake: Path) -> None:
    good = open_rows(10, start=9)
    src = tmp_path / "garbage_after_10.log"
    src.write_text(CONN_HEADER + good + "this is not zeek\n" * 25 + open_rows(5, start=44))
    report = ingest_file(src, lake)
    assert report.status == "abandoned"
    assert report.message == (
        f"{src}: abandoned at line 38 after 20 consecutive bad lines "
        "(line has 1 fields, header declares 21: cut off (file truncated?))"
    )
    warnings = lake_warnings(lake, src)
    assert [w[0] for w in warnings] == [*range(19, 39), None]
    assert warnings[-1][1].startswith("abandoned at line 38 after 20 consecutive bad lines")
    assert report.rows == {"net.conn": 10}  # the good lines before the bad run are kept
    assert [r["_line"] for r in lake_rows(lake, "net.conn")] == list(range(9, 19))


def test_fewer_bad_lines_than_the_limit_do_not_abandon(tmp_path: Path, lake: Path) -> None:
    src = tmp_path / "garbage_19.log"
    src.write_text(CONN_HEADER + open_rows(3, start=9) + "junk\n" * 19 + open_rows(3, start=31))
    report = ingest_file(src, lake)
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": 6}, 19)


def test_run_of_bad_json_lines_abandons_the_file(zeek_fixtures: Path, tmp_path: Path, lake: Path) -> None:
    good = (zeek_fixtures / "valid_dns.json").read_text()
    src = tmp_path / "dns_then_binary.json"
    src.write_text(good + "\x00\x01 not json\n" * 30 + good)
    report = ingest_file(src, lake)
    assert report.status == "abandoned"
    assert report.message.startswith(
        f"{src}: abandoned at line 23 after 20 consecutive bad lines (not valid JSON"
    )
    assert report.rows == {"net.dns": 3}  # the good lines before the bad run are kept
    assert [r["_line"] for r in lake_rows(lake, "net.dns")] == [1, 2, 3]
    assert [w[0] for w in lake_warnings(lake, src)] == [*range(4, 24), None]


def test_byte_order_mark_is_not_part_of_the_first_line(
    zeek_fixtures: Path, tmp_path: Path, lake: Path
) -> None:
    src = tmp_path / "bom_conn.log"
    src.write_bytes(b"\xef\xbb\xbf" + (zeek_fixtures / "valid_conn.log").read_bytes())
    report = ingest_file(src, lake)
    assert (report.status, report.source_format, report.rows, report.warnings) == (
        "ingested",
        "zeek_tsv",
        {"net.conn": 5},
        0,
    )
    assert [r["_line"] for r in lake_rows(lake, "net.conn")] == [9, 10, 11, 12, 13]


def test_several_problems_on_one_line_count_once_towards_the_run() -> None:
    ctx = ParseContext("f.log", max_consecutive_bad=3)
    ctx.warn(5, "a")
    ctx.warn(6, "b")
    ctx.warn(6, "c")  # same line again: still a run of 2 lines
    with pytest.raises(AbandonFile, match="abandoned at line 7 after 3 consecutive bad lines"):
        ctx.warn(7, "d")


def open_rows(n: int, start: int) -> str:
    """``n`` valid conn lines (their uids carry the line number they will have)."""
    return "".join(
        f"{1713484800 + i}.25\tCline{start + i:011d}\t10.0.0.{i % 250}\t{40000 + i}"
        f"\t203.0.113.9\t443\ttcp\tssl\t0.5\t100\t200\tSF\tT\tF\t0\tShADadFf\t3\t200\t3\t300\t(empty)\n"
        for i in range(n)
    )


# ---------------------------------------------------------------- JSON


def test_valid_dns_json(zeek_fixtures: Path, lake: Path) -> None:
    report = ingest_file(zeek_fixtures / "valid_dns.json", lake)
    assert (report.status, report.source_format, report.rows, report.warnings) == (
        "ingested",
        "zeek_json",
        {"net.dns": 3},
        0,
    )
    rows = lake_rows(lake, "net.dns")
    assert [r["_line"] for r in rows] == [1, 2, 3]
    first, nx, txt = rows
    assert micros(first["ts"]) == 1517422326_539915 and micros(nx["ts"]) == 1517422327_000001
    assert micros(txt["ts"]) == 1517422400_000000  # an integer epoch
    assert (first["src_ip"], first["src_port"], first["dst_ip"], first["dst_port"]) == (
        "10.55.100.100",
        61843,
        "10.55.100.1",
        53,
    )
    assert (first["query"], first["qtype"], first["qtype_name"], first["rcode"], first["trans_id"]) == (
        "www.example.com",
        1,
        "A",
        0,
        4242,
    )
    assert (first["answers"], first["ttls"], first["rtt"]) == (
        ["93.184.216.34", "93.184.216.35"],
        [3600.0, 3600.0],
        0.012,
    )
    assert (first["aa"], first["tc"], first["rd"], first["ra"], first["rejected"]) == (
        False,
        False,
        True,
        True,
        False,
    )
    assert (nx["rcode_name"], nx["answers"], nx["ttls"], nx["rtt"]) == ("NXDOMAIN", None, None, None)
    assert (txt["answers"], txt["aa"], txt["qclass"]) == (["TXT 20 v=spf1 -all"], True, None)
    assert extra_dict(first["extra"]) == {"qclass_name": "C_INTERNET", "Z": "0"}


@pytest.mark.parametrize("ignore_tz", [None, "1"], ids=["plain", "PYARROW_IGNORE_TIMEZONE"])
def test_underscored_json_with_envelope(
    zeek_fixtures: Path, lake: Path, monkeypatch: pytest.MonkeyPatch, ignore_tz: str | None
) -> None:
    # importing pyspark.pandas sets PYARROW_IGNORE_TIMEZONE=1 for the whole process; offsets must still count
    if ignore_tz is None:
        monkeypatch.delenv("PYARROW_IGNORE_TIMEZONE", raising=False)
    else:
        monkeypatch.setenv("PYARROW_IGNORE_TIMEZONE", ignore_tz)
    report = ingest_file(zeek_fixtures / "underscored.json", lake)
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": 3}, 0)
    rows = lake_rows(lake, "net.conn")
    assert [micros(r["ts"]) for r in rows] == [1588205199_824370, 1588205200_000000, 1588205201_000001]
    assert [(r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"]) for r in rows] == [
        ("10.0.1.6", 54243, "10.0.0.4", 53),
        ("10.0.1.6", 50000, "192.168.0.4", 8443),
        ("10.0.1.4", 50001, "192.168.0.5", 1234),
    ]
    assert [r["sensor"] for r in rows] == ["bobs.bigwheel.local", "bobs.bigwheel.local", "scranton.local"]
    assert extra_dict(rows[0]["extra"]) == {
        "@stream": "conn",
        "@system": "bobs.bigwheel.local",
        "@proc": "zeek",
        "orig_l2_addr": "00:0d:3a:13:e3:69",
    }
    assert (rows[1]["src_bytes"], rows[1]["duration"], rows[2]["service"]) == (1500, 12.5, None)


def test_bad_json(zeek_fixtures: Path, lake: Path) -> None:
    src = zeek_fixtures / "bad_json.json"
    report = ingest_file(src, lake)
    assert lake_warnings(lake, src) == [
        (2, "not valid JSON: Unterminated string starting at"),
        (3, "JSON value is not an object"),
        (4, "field 'src_port': cannot read 'abc' as int32"),
    ]
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": 3}, 3)
    rows = lake_rows(lake, "net.conn")
    assert [(r["_line"], r["uid"], r["src_port"]) for r in rows] == [
        (1, "CxHo3m4N8uGxrMlcl2", 61843),
        (4, "CbadPort00000001", None),
        (5, "CgoodLast0000001", 61843),
    ]
    assert micros(rows[2]["ts"]) == 1517422400_250000


# ---------------------------------------------------------------- compressed, zipped, renamed


def _variants(fixtures: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """variant file -> (fixture it was made from, the name ingest reports for it)."""
    folder.mkdir()
    conn = (fixtures / "valid_conn.log").read_bytes()
    dns = (fixtures / "valid_dns.json").read_bytes()
    bad = (fixtures / "bad_lines.log").read_bytes()
    made = {
        "valid_conn.log.gz": (gzip.compress(conn), "valid_conn.log"),
        "conn.00:00:00-01:00:00.log.gz": (gzip.compress(conn, mtime=1), "valid_conn.log"),
        "valid_dns.json.gz": (gzip.compress(dns), "valid_dns.json"),
        "bad_lines.log.bz2": (bz2.compress(bad), "bad_lines.log"),
        "valid_dns.json.xz": (lzma.compress(dns), "valid_dns.json"),
    }
    out = {}
    for name, (data, fixture) in made.items():
        (folder / name).write_bytes(data)
        out[name] = (fixtures / fixture, str(folder / name))
    with zipfile.ZipFile(folder / "logs.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for fixture in ("valid_conn.log", "bad_json.json", "unknown_log.log"):
            archive.write(fixtures / fixture, f"zeek/{fixture}")
            out[f"logs.zip!zeek/{fixture}"] = (fixtures / fixture, f"{folder / 'logs.zip'}!zeek/{fixture}")
    return out


def test_compressed_and_zipped_variants_equal_the_plain_file(zeek_fixtures: Path, tmp_path: Path) -> None:
    variants = _variants(zeek_fixtures, tmp_path / "in")
    report = ingest([tmp_path / "in"], tmp_path / "lake")
    by_name = {f.file: f for f in report.files}
    assert sorted(by_name) == sorted(name for _, name in variants.values())
    for i, (plain, name) in enumerate(variants.values()):
        got, plain_lake = by_name[name], tmp_path / f"plain-{i}"
        want = ingest_file(plain, plain_lake)
        assert (got.status, got.source_format, got.rows, got.skipped, got.warnings) == (
            want.status,
            want.source_format,
            want.rows,
            want.skipped,
            want.warnings,
        ), name
        assert lake_warnings(tmp_path / "lake", name) == lake_warnings(plain_lake, plain)
        for table in got.rows:
            have = data_only(lake_rows(tmp_path / "lake", table, name))
            assert have == data_only(lake_rows(plain_lake, table, plain)), name


@pytest.mark.parametrize("cut", [0.5, 0.8])
def test_gzip_cut_off_mid_copy_keeps_what_was_written(
    zeek_fixtures: Path, tmp_path: Path, cut: float
) -> None:
    text = (zeek_fixtures / "valid_conn.log").read_bytes()
    header, body = (
        text[: text.index(b"\n1713")] + b"\n",
        text[text.index(b"\n1713") + 1 : text.index(b"#close")],
    )
    packed = gzip.compress(header + body * 4000, mtime=0)
    src = tmp_path / "conn.00:00:00-01:00:00.log.gz"
    src.write_bytes(packed[: int(len(packed) * cut)])
    prefix = zlib.decompressobj(wbits=31).decompress(src.read_bytes())  # all that can be recovered
    complete, tail = prefix[: prefix.rindex(b"\n") + 1], prefix[prefix.rindex(b"\n") + 1 :]
    n_lines = complete.count(b"\n")
    want = [
        (
            None,
            f"compressed data ends early or is corrupt after line {n_lines}: "
            "Compressed file ended before the end-of-stream marker was reached",
        )
    ]
    fields = tail.count(b"\t") + 1
    if tail and fields < 21:
        want.insert(
            0, (n_lines + 1, f"line has {fields} fields, header declares 21: cut off (file truncated?)")
        )
    lake = tmp_path / "lake"
    report = ingest_file(src, lake)
    assert lake_warnings(lake, src) == want
    rows = n_lines - 8 + (1 if tail and fields == 21 else 0)
    assert (report.status, report.rows, report.warnings) == ("ingested", {"net.conn": rows}, len(want))


def test_tiny_cut_off_gzip_is_still_sniffed(zeek_fixtures: Path, tmp_path: Path, lake: Path) -> None:
    packed = gzip.compress((zeek_fixtures / "valid_conn.log").read_bytes(), mtime=0)
    src = tmp_path / "conn.log.gz"
    src.write_bytes(packed[: int(len(packed) * 0.8)])  # the 64 KB head cannot be read in full
    report = ingest_file(src, lake)
    assert (report.status, report.source_format) == ("ingested", "zeek_tsv")
    assert report.rows["net.conn"] >= 1
    assert lake_warnings(lake, src)[-1][0] is None


# ---------------------------------------------------------------- hostile values


HOSTILE = [
    "tab\\x09escaped",  # Zeek's escape for a tab inside a value: kept as written
    "say \"hi\" 'there'",
    "<script>alert(document.cookie)</script>",
    "back\\slash \\\\ and unicode \u00fc\u20ac\U0001f600",
    "A" * 100_000,
]


def test_hostile_strings_round_trip_tsv(tmp_path: Path, lake: Path) -> None:
    fields = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p method host uri user_agent x_note".split()
    types = "time string addr port addr port string string string string string".split()
    lines = [
        f"{1713484800 + i}.5\tCh{i}\t10.0.0.1\t5000{i}\t10.0.0.2\t80\tGET\tex.com\t/{value}\t{value}\t{value}"
        for i, value in enumerate(HOSTILE)
    ]
    src = tmp_path / "http.log"
    src.write_text(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\thttp\n"
        "#fields\t" + "\t".join(fields) + "\n#types\t" + "\t".join(types) + "\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    report = ingest_file(src, lake)
    assert (report.rows, report.warnings) == ({"net.http": len(HOSTILE)}, 0)
    rows = lake_rows(lake, "net.http")
    assert [r["user_agent"] for r in rows] == HOSTILE
    assert [r["uri"] for r in rows] == [f"/{v}" for v in HOSTILE]
    assert [extra_dict(r["extra"])["x_note"] for r in rows] == HOSTILE


def test_hostile_strings_round_trip_json(tmp_path: Path, lake: Path) -> None:
    values = [*HOSTILE, "real\ttab, real\nnewline, nul\u0000 and bell\u0007"]
    src = tmp_path / "http.json"
    src.write_text(
        "".join(
            json.dumps(
                {
                    "ts": 1713484800.5 + i,
                    "uid": f"Ch{i}",
                    "id.orig_h": "10.0.0.1",
                    "id.orig_p": 50000 + i,
                    "id.resp_h": "10.0.0.2",
                    "id.resp_p": 80,
                    "method": "GET",
                    "uri": f"/{v}",
                    "user_agent": v,
                    "x_note": v,
                    "_path": "http",
                }
            )
            + "\n"
            for i, v in enumerate(values)
        ),
        encoding="utf-8",
    )
    report = ingest_file(src, lake)
    assert (report.rows, report.warnings) == ({"net.http": len(values)}, 0)
    rows = lake_rows(lake, "net.http")
    assert [r["user_agent"] for r in rows] == values
    assert [extra_dict(r["extra"])["x_note"] for r in rows] == values


# ---------------------------------------------------------------- sniffing and --format


def test_sniffing_is_by_content_not_name(zeek_fixtures: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(zeek_fixtures / "underscored.json", folder / "NASHUA_conn.log")
    shutil.copy(zeek_fixtures / "valid_dns.json", folder / "notes.txt")
    shutil.copy(zeek_fixtures / "valid_conn.log", folder / "conn.json")
    report = ingest([folder], tmp_path / "lake")
    got = {Path(f.file).name: (f.status, f.source_format, f.rows, f.warnings) for f in report.files}
    assert got == {
        "NASHUA_conn.log": ("ingested", "zeek_json", {"net.conn": 3}, 0),
        "notes.txt": ("ingested", "zeek_json", {"net.dns": 3}, 0),
        "conn.json": ("ingested", "zeek_tsv", {"net.conn": 5}, 0),
    }


def test_json_head_sniff_variants(zeek_fixtures: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    dns = (zeek_fixtures / "valid_dns.json").read_bytes()
    long_line = json.dumps(
        {
            "ts": 1517422326.5,
            "uid": "Clong",
            "id.orig_h": "10.0.0.1",
            "id.orig_p": 1,
            "id.resp_h": "10.0.0.2",
            "id.resp_p": 80,
            "uri": "/" + "x" * 100_000,
            "method": "GET",
        }
    )
    nested = {
        "ts": 1517422326.5,
        "uid": "Cnest",
        "id": {"orig_h": "10.0.0.1", "orig_p": 1, "resp_h": "10.0.0.2", "resp_p": 53},
        "query": "a.example",
        "qtype": 1,
    }
    x509 = {
        "@stream": "x509",
        "@system": "s1",
        "ts": 1588207244.736422,
        "id": "F1v6sJmRC73GU6WT3",
        "certificate_version": 3,
    }
    (folder / "dns.json.gz").write_bytes(gzip.compress(dns))
    (folder / "bom_blank.json").write_bytes(b"\xef\xbb\xbf\n\n" + dns)
    (folder / "long_first_line.json").write_text(
        long_line + "\n" + long_line.replace("Clong", "Clong2") + "\n"
    )
    (folder / "nested.json").write_text(json.dumps(nested) + "\n")
    (folder / "x509.json").write_text(json.dumps(x509) + "\n")
    assert len(long_line) > 64 << 10
    report = ingest([folder], tmp_path / "lake")
    got = {
        Path(f.file).name: (f.status, f.source_format, f.rows, f.skipped, f.warnings) for f in report.files
    }
    assert got == {
        "dns.json.gz": ("ingested", "zeek_json", {"net.dns": 3}, {}, 0),
        "bom_blank.json": ("ingested", "zeek_json", {"net.dns": 3}, {}, 0),
        "long_first_line.json": ("ingested", "zeek_json", {"net.http": 2}, {}, 0),
        "nested.json": ("ingested", "zeek_json", {"net.dns": 1}, {}, 0),
        "x509.json": ("ingested", "zeek_json", {}, {"zeek x509": 1}, 0),
    }
    nested_row = lake_rows(tmp_path / "lake", "net.dns", folder / "nested.json")[0]
    assert (nested_row["src_ip"], nested_row["dst_port"], nested_row["query"]) == (
        "10.0.0.1",
        53,
        "a.example",
    )
    bom_lines = [r["_line"] for r in lake_rows(tmp_path / "lake", "net.dns", folder / "bom_blank.json")]
    assert bom_lines == [3, 4, 5]


def test_format_forcing(zeek_fixtures: Path, tmp_path: Path) -> None:
    text = (zeek_fixtures / "valid_conn.log").read_text()
    src = tmp_path / "no_separator_line.log"
    src.write_text(text.split("\n", 1)[1])  # a pipeline dropped the "#separator" line
    assert ingest_file(src, tmp_path / "sniffed").status == "unrecognized"
    forced = ingest_file(src, tmp_path / "forced", fmt="zeek_tsv")
    assert (forced.status, forced.source_format, forced.rows, forced.warnings) == (
        "ingested",
        "zeek_tsv",
        {"net.conn": 5},
        0,
    )
    with pytest.raises(WinnowError, match="unknown format 'nope'; known formats: .*zeek_json, zeek_tsv"):
        ingest([src], tmp_path / "other", fmt="nope")


def test_plain_text_is_unrecognized(tmp_path: Path, lake: Path) -> None:
    src = tmp_path / "notes.log"
    src.write_text("just some text\nthat is not a log we know\n")
    report = ingest_file(src, lake)
    assert (report.status, report.rows, report.warnings) == ("unrecognized", {}, 0)
    assert "--format" in report.message
    assert lake_rows(lake, "net.conn") == [] and lake_warnings(lake) == []

"""Zeek TSV ingest gives exactly the rows and warnings it gave before the issue 15 speed-up.

Each case is ingested into a fresh lake and reduced to a digest per table: the row count and an
order-free hash of every row (every column but the ingest id), plus the schema. The expected
digests were computed with the code of ``main`` before the change (commit 518a030), on

* the real Zeek logs of the shared data (MANIFEST.md sections 1-3: RITA, Stratosphere, Mordor),
* a generated log of hostile lines (:func:`hostile_log`: bad lines, bad values, CR, invalid UTF-8,
  header changes mid-file, sets, ``(empty)`` and ``-``, quotes and control characters),
* a simulated 200-host day of conn, dns, http and ssl logs (``winnow simulate --hosts 200``).

Only rows written by the ``zeek_tsv`` source are compared (other sources change on their own).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from winnow.ingest import ingest

SHARED = Path("/work/shared/data")
SHARED_ZEEK = ["rita-zeek-beacon/missing_host", "rita-zeek-beacon/proxy_rolling", "stratosphere",
               "mordor/apt29/day1/zeek", "mordor/apt29/day2/zeek", "mordor/lsass_campaign_01"]

CONN_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes "
               "conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts "
               "resp_ip_bytes tunnel_parents").split()
CONN_TYPES = ("time string addr port addr port enum string interval count count string bool bool count string "
              "count count count count set[string]").split()
DNS_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype "
              "qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected").split()
DNS_TYPES = ("time string addr port addr port enum count interval string count string count string count string "
             "bool bool bool bool count vector[string] vector[interval] bool").split()
HOSTILE = ["'; DROP TABLE x;--", '"quoted"', "back\\slash", "{\"json\":1}", "ctl\x01\x02", "tab\\x09esc",
           "ünïcödé", "日本語", "(empty)x", "-x", "a,b,c", "<script>alert(1)</script>", " spaced ", "%s%n"]


def _header(path: str, fields: list[str], types: list[str], node: bool = False) -> list[str]:
    fields, types = (["_node_name", *fields], ["string", *types]) if node else (fields, types)
    return ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", f"#path\t{path}",
            "#open\t2026-11-02-00-00-00", "#fields\t" + "\t".join(fields), "#types\t" + "\t".join(types)]


def _value(rng: random.Random, kind: str, clean: bool = False) -> str:
    roll = rng.random()
    if roll < 0.08 and kind != "time":
        return "-"
    if clean and kind in ("time", "port", "count", "int", "interval", "double", "bool", "addr"):
        roll = 1.0  # a valid value of the type
    if roll < 0.11:
        return "(empty)"
    if roll < 0.115:
        return rng.choice(["abc", "1e999", "-5", "99999", "1.5", "T", ""])  # bad or odd for most types
    if kind == "time":
        return f"{1793577600 + rng.random() * 86400 * 2:.6f}"
    if kind in ("port", "count", "int"):
        return str(rng.randrange(0, 70000))
    if kind in ("interval", "double"):
        return f"{rng.random() * 100:.6f}"
    if kind == "bool":
        return rng.choice("TF")
    if kind == "addr":
        return rng.choice(["10.0.0.1", "192.168.1.7", "fe80::1", "2001:db8::5", "999.1.1.1", "host"])
    if kind.startswith(("set", "vector")):
        inner = kind[kind.index("[") + 1 : -1]
        if inner != "string":
            return ",".join(f"{rng.random() * 100:.1f}" for _ in range(rng.randrange(1, 4)))
        return ",".join(rng.choice(HOSTILE + ["a", "b"]) for _ in range(rng.randrange(1, 4)))
    return rng.choice(HOSTILE + ["C" + "".join(rng.choices("abcdefXYZ0123", k=16)), "tcp", "udp", "SF", "S0"])


def hostile_log(path: Path, seed: int = 15, rows: int = 3000) -> Path:
    """A conn log, a dns log and a clean conn log in one file (headers between), hostile and bad lines.

    The clean part has hostile text, sets, ``(empty)`` and ``-`` but no bad line or value, so it takes the
    column-wise path; the others go line by line.
    """
    rng = random.Random(seed)
    out: list[bytes] = [b"#separator \\x09", b"1793577600.0\tbefore any header"]
    sections = (("conn", CONN_FIELDS, CONN_TYPES, False), ("dns", DNS_FIELDS, DNS_TYPES, False),
                ("conn", CONN_FIELDS, CONN_TYPES, True))
    for name, fields, types, clean in sections:
        node = name == "dns"
        out += [h.encode() for h in _header(name, fields, types, node)]
        kinds = (["string"] if node else []) + types
        for _ in range(rows * (4 if clean else 1)):
            line = "\t".join(_value(rng, k, clean) for k in kinds)
            if node:
                line = "worker-1" + line[line.index("\t"):]
            roll = 1.0 if clean else rng.random()
            raw = line.encode()
            if roll < 0.01:
                raw = raw.rsplit(b"\t", 3)[0]  # cut off
            elif roll < 0.02:
                raw += b"\textra"
            elif roll < 0.025:
                raw = raw.replace(b"\t", b"\t\xff\xfe", 1)  # invalid UTF-8
            elif roll < 0.03:
                raw += b"\r"  # CRLF line
            elif roll < 0.032:
                raw = raw.replace(b"\t", b"\r\t", 1)  # a CR inside a line
            elif roll < 0.035:
                raw = b""
            out.append(raw)
        out.append(b"#close\t2026-11-03-00-00-00")
    out.append(b"1793577601.0\tCcut\t10.0.0.1")  # a last line cut off, no newline
    path.write_bytes(b"\n".join(out))
    return path


def digest(lake: Path) -> dict[str, tuple[int, str, str]]:
    """Per table: (rows, hash of the rows, hash of the schema), over rows the zeek_tsv source wrote.

    Left out: the ingest id, the time a warning was written, the folder of the source file.
    """
    out = {}
    for folder in sorted(p for p in lake.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = sorted(folder.rglob("*.parquet"))
        if not files:
            continue
        table = pads.dataset(files, format="parquet").to_table()
        fmt = "_source_format" if "_source_format" in table.column_names else "source_format"
        table = table.filter(pc.equal(table[fmt], "zeek_tsv"))
        if fmt == "source_format":  # ingest_warnings: its ts is when the warning was written
            table = table.drop_columns(["ts"])
        table = table.drop_columns([c for c in ("_ingest_id", "ingest_id") if c in table.column_names])
        if not table.num_rows:
            continue
        frame = table.to_pandas()
        for name in ("_source_file", "file"):  # the folder a test wrote its files to varies
            if name in frame.columns:
                frame[name] = frame[name].str.rsplit("/", n=1).str[-1]
        for name in frame.columns:
            if frame[name].dtype == object:
                frame[name] = frame[name].map(lambda v: v if v is None or isinstance(v, str) else repr(v))
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        rows = hashlib.sha256(np.sort(hashes).tobytes()).hexdigest()[:16]
        out[folder.name] = (table.num_rows, rows, hashlib.sha256(str(table.schema).encode()).hexdigest()[:16])
    return out


#: digests from the code before the change (see the module docstring)
EXPECTED = {
    "shared": {
        "auth.logon": (17309, "d38bd7481233f663", "895c70cd617507f1"),
        "net.conn": (122413, "8ef810f3176fd12b", "b7a2aef69d2187db"),
        "net.dns": (9752, "7fb0ab5cdc8d5899", "a305a75d2ec2e725"),
        "net.http": (22534, "d4a5a45838dbdcb5", "832cab0334b998df"),
        "net.open_conn": (72, "f0850eeea3448a6d", "b7a2aef69d2187db"),
        "net.tls": (3427, "6b9d6e16edec37ab", "b539b0a93cdcc28a"),
    },
    "hostile": {
        "ingest_warnings": (16773, "ff95f669d17b6671", "ffe73f5c10fed4ca"),
        "net.conn": (14622, "7ae057f10747f260", "b7a2aef69d2187db"),
        "net.dns": (2597, "2483f2c41de885e3", "a305a75d2ec2e725"),
    },
    "simulated": {
        "net.conn": (662961, "61496501e221638b", "b7a2aef69d2187db"),
        "net.dns": (212632, "e13258b24482cb0a", "a305a75d2ec2e725"),
        "net.http": (18226, "cdbc9e0b639062bd", "832cab0334b998df"),
        "net.tls": (287729, "f68110f8bc5c68d1", "b539b0a93cdcc28a"),
    },
}


def _check(name: str, lake: Path) -> None:
    got = digest(lake)
    assert got == EXPECTED[name], got


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data is not on this machine")
def test_shared_zeek_rows_are_unchanged(tmp_path):
    ingest([SHARED / p for p in SHARED_ZEEK], tmp_path / "lake")
    _check("shared", tmp_path / "lake")


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_hostile_zeek_rows_and_warnings_are_unchanged(tmp_path, monkeypatch, workers):
    monkeypatch.setenv("WINNOW_INGEST_BLOCK_SIZE", str(256 << 10))  # several blocks, headers inside some
    monkeypatch.setenv("WINNOW_INGEST_TSV_WORKERS", str(workers))  # parsed ahead on threads, or not
    ingest([hostile_log(tmp_path / "hostile.log")], tmp_path / "lake")
    _check("hostile", tmp_path / "lake")


@pytest.mark.slow
def test_simulated_day_rows_are_unchanged(tmp_path):
    from winnow.sim import simulate

    simulate(tmp_path / "sim", hosts=200, days=1, seed=0, endpoint_share=0)
    ingest([tmp_path / "sim" / "zeek"], tmp_path / "lake")
    _check("simulated", tmp_path / "lake")

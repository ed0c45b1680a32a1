"""NetFlow v9/IPFIX templates across files, ingests and collector runs (issue 10), on softflowd's real export.

softflowd reads a real capture and exports its flows to a socket the test listens on; the export
packets (templates in packets 1 and 17 of 22) are then split into rotated captures so that the
middle one holds data whose template is only in the first.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.collect.netflow import NetflowCollector
from winnow.pipeline.ingest import ingest

PCAP = "stratosphere/slips-dataset/pcap/test-cc-capture-1.pcap"
EXPORTER = "127.0.0.1"  # what the collector sees as the sender, so captures and collector share templates
PROVENANCE = {"_source_file", "_line", "_ingest_id", "_source_format"}
STATE = "_state/netflow_templates.json"


def softflowd_export(pcap: Path, version: int) -> list[bytes]:
    """The UDP payloads softflowd sends for a capture (flow times from the capture, in ms)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        subprocess.run(["softflowd", "-a", "-A", "milli", "-r", str(pcap), "-n", f"127.0.0.1:{sock.getsockname()[1]}",
                        "-v", str(version)], check=True, capture_output=True, timeout=120)
        out = []
        while True:
            try:
                out.append(sock.recvfrom(65535)[0])
            except TimeoutError:
                return out


def has_templates(payload: bytes) -> bool:
    """Whether an export message carries a (options) template set."""
    version = int.from_bytes(payload[:2], "big")
    off, template_sets = (20, (0, 1)) if version == 9 else (16, (2, 3))
    while off + 4 <= len(payload):
        set_id, length = struct.unpack_from("!HH", payload, off)
        if set_id in template_sets:
            return True
        off += max(length, 4)
    return False


def data_sets(payloads: list[bytes]) -> tuple[int, int]:
    """(data sets, bytes of their records) in export messages without templates."""
    sets = size = 0
    for payload in payloads:
        off = 20 if payload[1] == 9 else 16
        while off + 4 <= len(payload):
            set_id, length = struct.unpack_from("!HH", payload, off)
            assert set_id >= 256
            sets, size, off = sets + 1, size + length - 4, off + length
    return sets, size


def pcap_of(payloads: list[bytes], src: str = EXPORTER) -> bytes:
    """A pcap of UDP datagrams from ``src`` to port 2055."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, payload in enumerate(payloads):
        udp = struct.pack("!HHHH", 40000, 2055, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton("127.0.0.1")) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


@pytest.fixture(scope="module", params=[9, 10], ids=["v9", "ipfix"])
def export(request, shared_data, tmp_path_factory):
    """softflowd's export of a real capture, whole and as three rotated captures (templates only in the first)."""
    if not shutil.which("softflowd"):
        pytest.skip("needs softflowd: apt-get install softflowd")
    payloads = softflowd_export(shared_data / PCAP, request.param)
    assert [i for i, p in enumerate(payloads) if has_templates(p)] == [0, 16]
    folder = tmp_path_factory.mktemp(f"v{request.param}")
    (folder / "whole").mkdir()
    (folder / "whole" / "export.pcap").write_bytes(pcap_of(payloads))
    (folder / "split").mkdir()
    pieces = [payloads[:8], payloads[8:16], payloads[16:]]
    for i, piece in enumerate(pieces, 1):
        (folder / "split" / f"export-{i}.pcap").write_bytes(pcap_of(piece))
    return folder, payloads


def rows(lake: Path) -> list[tuple]:
    """Every net.conn row without provenance, sorted."""
    out = []
    for part in sorted((lake / "net.conn").glob("day=*/*.parquet")):
        for row in pq.read_table(part).to_pylist():
            out.append(tuple(sorted((k, str(v)) for k, v in row.items() if k not in PROVENANCE)))
    return sorted(out)


def warnings(lake: Path) -> list[str]:
    parts = lake.glob("ingest_warnings/day=*/*.parquet")
    return sorted(r["reason"] for p in parts for r in pq.read_table(p).to_pylist())


def test_rotated_captures_in_one_ingest_decode_as_the_whole(export, tmp_path):
    folder, _ = export
    whole = rows(_ingested(tmp_path / "whole", folder / "whole"))
    assert len(whole) == 594
    split = _ingested(tmp_path / "split", folder / "split")
    assert rows(split) == whole and not warnings(split)


def test_rotated_captures_in_separate_ingests_decode_as_the_whole(export, tmp_path):
    folder, _ = export
    whole = rows(_ingested(tmp_path / "whole", folder / "whole"))
    lake = tmp_path / "split"
    for i in (1, 2, 3):
        report = ingest([folder / "split" / f"export-{i}.pcap"], lake)
        assert report.files[0].status == "ingested" and report.files[0].warnings == 0
    assert rows(lake) == whole and not warnings(lake)
    state = (lake / STATE).read_bytes()
    assert {t["template"] for t in json.loads(state)["templates"]} == {256, 1024, 1025, 2048, 2049}
    report = ingest([folder / "split"], lake)  # again: nothing new, and the template store is unchanged
    assert {f.status for f in report.files} == {"already ingested"}
    assert rows(lake) == whole and (lake / STATE).read_bytes() == state


def test_data_before_its_template_in_the_same_capture_waits_for_it(export, tmp_path):
    folder, payloads = export
    late = folder / "late.pcap"
    late.write_bytes(pcap_of(payloads[1:]))  # data first; softflowd repeats its templates in packet 17
    lake = _ingested(tmp_path / "lake", late)
    assert len(rows(lake)) == 594 - 20 and not warnings(lake)  # all but the first packet's 20 flows


def test_data_without_its_template_is_counted_per_template(export, tmp_path):
    folder, payloads = export
    lake = tmp_path / "lake"
    report = ingest([folder / "split" / "export-2.pcap"], lake)
    assert report.files[0].total_rows == 0
    sets, size = data_sets(payloads[8:16])
    assert sets == 8
    assert warnings(lake) == [f"{sets} data sets ({size:,} bytes) for template 1024 of exporter {EXPORTER} domain 0 "
                              "had no template: their flows were not decoded"]


def test_an_unreadable_template_store_is_a_warning_and_is_replaced(export, tmp_path):
    folder, _ = export
    lake = tmp_path / "lake"
    (lake / "_state").mkdir(parents=True)
    (lake / STATE).write_text("{not json")
    ingest([folder / "split" / "export-1.pcap"], lake)
    assert any(w.startswith("stored NetFlow templates could not be read") for w in warnings(lake))
    report = ingest([folder / "split" / "export-2.pcap"], lake)
    assert report.files[0].total_rows > 0 and report.files[0].warnings == 0


def _ingested(lake: Path, path: Path) -> Path:
    ingest([path], lake)
    return lake


def _send(port: int, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, ("127.0.0.1", port))
            time.sleep(0.002)
    time.sleep(0.3)


def test_collector_uses_templates_of_an_earlier_capture_and_run(export, tmp_path):
    folder, payloads = export
    whole = rows(_ingested(tmp_path / "whole", folder / "whole"))
    lake = tmp_path / "lake"
    ingest([folder / "split" / "export-1.pcap"], lake)  # templates arrive in a rotated capture ...
    first = NetflowCollector(("127.0.0.1", 0), lake, flush_seconds=60).start()
    _send(first.address[1], payloads[8:12])  # ... the data in a collector, which restarts
    stats = first.stop()
    assert stats.records_decoded > 0 and stats.warnings == 0
    second = NetflowCollector(("127.0.0.1", 0), lake, flush_seconds=60).start()
    _send(second.address[1], payloads[12:16])
    stats = second.stop()
    assert stats.records_decoded > 0 and stats.warnings == 0
    ingest([folder / "split" / "export-3.pcap"], lake)
    assert rows(lake) == whole
    assert not [r for r in rows(lake) if dict(r)["src_ip"] == dict(r)["dst_ip"] == dict(r)["proto"] == "None"]


def test_collector_counts_data_that_never_met_its_template(export, tmp_path):
    _, payloads = export
    collector = NetflowCollector(("127.0.0.1", 0), tmp_path / "lake", flush_seconds=60).start()
    _send(collector.address[1], payloads[8:12])
    stats = collector.stop()
    sets, size = data_sets(payloads[8:12])
    assert stats.records_decoded == 0 and stats.warnings == 1
    assert warnings(tmp_path / "lake") == [f"{sets} data sets ({size:,} bytes) for template 1024 of exporter "
                                           f"{EXPORTER} domain 0 had no template: their flows were not decoded"]


def test_collector_writes_no_row_without_addresses_and_protocol(shared_data, tmp_path):
    """Real Cisco WLC export: 19 wireless-client records with no address and no protocol."""
    folder = shared_data / "netflow-packets"
    packets = [(folder / f"netflow9_test_cisco_wlc_{n}.dat").read_bytes() for n in ("tpl", "data261")]
    lake = tmp_path / "lake"
    collector = NetflowCollector(("127.0.0.1", 0), lake, flush_seconds=60).start()
    _send(collector.address[1], packets)
    stats = collector.stop()
    assert not rows(lake)
    assert stats.empty_records == 19 and stats.records_decoded == stats.rows_written == 0
    assert warnings(lake) == [f"19 records of template 261 of exporter {EXPORTER} domain 1 had no address and no "
                              "protocol: not written as connections"]


# ---------------------------------------------------------------------------------------------
# the store itself
# ---------------------------------------------------------------------------------------------

def _ipfix(sets: list[bytes], domain: int = 1) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, 0, domain) + body


def _template(tid: int, fields: list[tuple[int, int]], set_id: int = 2, scope: int | None = None) -> bytes:
    head = struct.pack("!HH", tid, len(fields)) + (b"" if scope is None else struct.pack("!H", scope))
    body = head + b"".join(struct.pack("!HH", e, n) for e, n in fields)
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def test_store_round_trip_keeps_order_scope_and_options():
    from winnow.sources.netflow_decode import NetflowDecoder
    from winnow.sources.netflow_store import TemplateStore

    decoder = NetflowDecoder()
    options = _template(300, [(149, 4), (160, 8), (34, 4)], set_id=3, scope=1)  # domain; sys init; sampling
    record = struct.pack("!IQI", 1, 1_700_000_000_000, 100)
    decoder.feed(_ipfix([_template(257, [(8, 4), (12, 4), (4, 1)]), _template(256, [(8, 4)]), options,
                         struct.pack("!HH", 300, 4 + len(record)) + record]), "192.0.2.1")
    store = TemplateStore.loads(decoder.store.dumps())
    assert store.problem is None
    assert list(store.templates) == [("192.0.2.1", 10, 1, 257), ("192.0.2.1", 10, 1, 256), ("192.0.2.1", 10, 1, 300)]
    assert store.templates[("192.0.2.1", 10, 1, 300)].scope_count == 1
    assert store.options == {("192.0.2.1", 10, 1): {"sys_init_ms": 1_700_000_000_000, "sampling": 100}}
    assert TemplateStore.loads('{"format": 1, "templates": [{"exporter": 1}]}').problem


def test_merging_keeps_what_another_writer_stored():
    from winnow.sources.netflow_decode import NetflowDecoder
    from winnow.sources.netflow_store import TemplateStore

    first, second = NetflowDecoder(), NetflowDecoder()
    first.feed(_ipfix([_template(256, [(8, 4)]), _template(257, [(8, 4)])]), "192.0.2.1")
    stored = first.store.dumps()
    second.feed(_ipfix([_template(257, [(12, 4)])]), "192.0.2.1")  # a newer 257
    merged = TemplateStore.loads(second.store.merged_onto(stored).dumps())
    assert list(merged.templates) == [("192.0.2.1", 10, 1, 256), ("192.0.2.1", 10, 1, 257)]
    assert merged.templates[("192.0.2.1", 10, 1, 257)].specs == ((12, 4, 0),)


def test_a_full_store_drops_its_oldest_saved_template_for_a_new_one():
    from winnow.sources.netflow_decode import NetflowDecoder

    decoder = NetflowDecoder(max_templates=2)
    decoder.feed(_ipfix([_template(256, [(8, 4)]), _template(257, [(8, 4)])]), "192.0.2.1")
    decoder.feed(_ipfix([_template(258, [(8, 4)])]), "192.0.2.1")  # a flood within one run is refused
    assert [k[3] for k in decoder.templates] == [256, 257]
    decoder.store.saved()
    decoder.feed(_ipfix([_template(258, [(8, 4)])]), "192.0.2.1")
    assert [k[3] for k in decoder.templates] == [257, 258]


def test_raw_export_files_keep_their_templates_to_themselves(shared_data, tmp_path):
    """Raw .dat files name no sender; vendors reuse template ids, so sharing would mis-decode (netscaler: 22 rows)."""
    import io

    from winnow.sources import ParseContext, sources

    folder = shared_data / "netflow-packets"
    report = ingest([folder], tmp_path / "lake")
    source = sources()["netflow"]
    for item in [f for f in report.files if f.status == "ingested"]:  # not the duplicates
        alone = sum(b.data.num_rows for b in source.parse(io.BytesIO(Path(item.file).read_bytes()),
                                                          ParseContext(item.file)))
        assert item.total_rows == alone, item.file
    assert not (tmp_path / "lake" / STATE).exists()


def test_templates_are_published_in_the_commit_of_the_files_they_came_from(export, tmp_path, monkeypatch):
    import winnow.ingest.pending as pending
    from winnow.config import load, use

    folder, _ = export
    commits = []

    def recording(lake, commit, manifest=None):
        commits.append(([e.file for e in commit.entries], [str(final) for _, final in commit.moves]))
        return publish(lake, commit, manifest)

    publish = pending.publish
    monkeypatch.setattr(pending, "publish", recording)
    with use(load(sets=["ingest.commit_files=1"])):
        ingest([folder / "split"], tmp_path / "lake")
    assert len(commits) == 3
    with_state = [[Path(f).name for f in files] for files, moves in commits if any(m.endswith(STATE) for m in moves)]
    # the files that brought templates (softflowd refreshes them in export-3) carry them in their commits
    assert with_state == [["export-1.pcap"], ["export-3.pcap"]]

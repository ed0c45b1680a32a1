"""Ingest and attribution tunables are settings: set in a file, a variable or --set, they change what happens."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from winnow.cli.main import cli
from winnow.config import SETTINGS, ConfigError, load, use


def ingest_cli(*args: str) -> dict:
    """``winnow ingest ... --report jsonl`` in this process; the report by file name."""
    result = CliRunner().invoke(cli, ["ingest", *args, "--report", "jsonl"])
    if result.exception is not None:
        raise result.exception
    return {Path(r["file"]).name: r for r in map(json.loads, result.stdout.splitlines())}


def test_max_consecutive_bad_abandons_a_file_sooner(zeek_fixtures: Path, tmp_path: Path) -> None:
    lines = (zeek_fixtures / "valid_conn.log").read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    src = tmp_path / "conn.log"  # five lines in a row the header does not describe, then good ones
    src.write_text("".join(lines[:first] + ["garbage\tline\n"] * 5 + lines[first:]))
    default = ingest_cli(str(src), "--lake", str(tmp_path / "a"))["conn.log"]
    assert (default["status"], default["rows"], default["warnings"]) == ("ingested", 5, 5)
    strict = ingest_cli(str(src), "--lake", str(tmp_path / "b"), "--set", "ingest.max_consecutive_bad=3")["conn.log"]
    assert strict["status"] == "abandoned" and "after 3 consecutive bad lines" in strict["message"]


def test_compression_reaches_every_part_of_the_lake(zeek_fixtures: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ingest_cli(str(zeek_fixtures), "--lake", str(lake), "--set", "ingest.compression=zstd")
    parts = sorted(lake.glob("*/day=*/*.parquet"))
    assert {p.parent.parent.name for p in parts} >= {"net.conn", "net.dns", "ingest_warnings"}
    codecs = {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in parts}
    assert codecs == {"ZSTD"}
    with pytest.raises(ConfigError, match=r"--set ingest.compression=lzma: ingest.compression: expected one of"):
        ingest_cli(str(zeek_fixtures), "--lake", str(tmp_path / "other"), "--set", "ingest.compression=lzma")


def test_arrow_memory_pool_is_the_one_in_force_while_ingesting(zeek_fixtures: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        for i, name in enumerate(("mimalloc", "system")):
            assert ingest_cli(str(zeek_fixtures), "--lake", str(tmp_path / f"l{i}"), "--set",
                              f"ingest.arrow_memory_pool={name}")["valid_conn.log"]["status"] == "ingested"
            assert pa.default_memory_pool().backend_name == name
        with pytest.raises(ConfigError, match=r"ingest.arrow_memory_pool: expected one of system, mimalloc"):
            ingest_cli(str(zeek_fixtures), "--lake", str(tmp_path / "x"), "--set", "ingest.arrow_memory_pool=tcmalloc")
    finally:
        pa.set_memory_pool(before)


def test_block_size_is_what_sources_read_at_a_time(zeek_fixtures: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import winnow.sources.blocks as blocks
    from winnow.ingest.discover import HEAD_BYTES

    sizes: list[int] = []
    real = blocks.read_some

    def spy(stream, size):
        if size != HEAD_BYTES:  # the sniffing read of discover (when it is first imported after the patch)
            sizes.append(size)
        return real(stream, size)

    monkeypatch.setattr(blocks, "read_some", spy)
    src = str(zeek_fixtures / "valid_conn.log")
    small = ingest_cli(src, "--lake", str(tmp_path / "a"), "--set", "ingest.block_size=100")["valid_conn.log"]
    assert set(sizes) == {100} and len(sizes) > 5
    sizes.clear()
    default = ingest_cli(src, "--lake", str(tmp_path / "b"))["valid_conn.log"]
    assert set(sizes) == {4 << 20}  # Zeek TSV: ingest.tsv_block_size, below ingest.block_size (16 MB)
    assert (small["rows"], small["warnings"]) == (default["rows"], default["warnings"]) == (5, 0)
    with pytest.raises(ConfigError, match="ingest.block_size: expected 1 or more, got 0"):
        ingest_cli(src, "--lake", str(tmp_path / "c"), "--set", "ingest.block_size=0")


def test_commit_files_groups_small_files_into_commits(zeek_fixtures: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import winnow.ingest.pending as pending

    commits: list[int] = []
    real = pending.publish
    monkeypatch.setattr(pending, "publish", lambda lake, commit, manifest: (
        commits.append(len(commit.entries)), real(lake, commit, manifest)))
    files = [str(zeek_fixtures / n) for n in ("valid_conn.log", "valid_dns.json", "bad_json.json")]
    ingest_cli(*files, "--lake", str(tmp_path / "a"))
    assert commits == [3]
    commits.clear()
    ingest_cli(*files, "--lake", str(tmp_path / "b"), "--set", "ingest.commit_files=1")
    assert commits == [1, 1, 1]


def test_every_attribution_setting_is_a_join_parameter_or_read_by_the_refresh() -> None:
    from winnow.enrich.conn_proc import JoinParams

    declared = {s.name for s in SETTINGS if s.section == "attribution"}
    params = {f"attribution.{f.name}" for f in dataclasses.fields(JoinParams)}
    assert declared == params | {"attribution.events_per_partition"}
    with use(load(sets=["attribution.tolerance=2.5"], env={})):
        assert JoinParams.from_config() == JoinParams(2.5, 120.0, 1.0, 0.5)
        assert JoinParams.from_config(exact_within=0.2).exact_within == 0.2


def test_ingest_is_the_pipeline_and_leaves_derived_tables_alone_without_their_inputs(
    zeek_fixtures: Path, tmp_path: Path
) -> None:
    import winnow.pipeline.ingest
    from winnow.ingest import ingest

    assert ingest is winnow.pipeline.ingest.ingest
    report = ingest([zeek_fixtures / "valid_conn.log"], tmp_path / "lake")
    assert report.totals() == {"net.conn": 5} and report.derived == {} and report.conn_proc is None


def test_a_setting_below_its_minimum_is_a_user_error(zeek_fixtures: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A negative buffer or count names the setting and where it was set, before anything is read."""
    with pytest.raises(ConfigError, match=r"--set ingest.write_buffer_bytes=-5: ingest.write_buffer_bytes: "
                                          r"expected 0 or more, got -5"):
        ingest_cli(str(zeek_fixtures), "--lake", str(tmp_path / "a"), "--set", "ingest.write_buffer_bytes=-5")
    monkeypatch.setenv("WINNOW_INGEST_TSV_BLOCK_SIZE", "0")
    with pytest.raises(ConfigError, match=r"\$WINNOW_INGEST_TSV_BLOCK_SIZE: ingest.tsv_block_size: expected 1 or more"):
        ingest_cli(str(zeek_fixtures), "--lake", str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

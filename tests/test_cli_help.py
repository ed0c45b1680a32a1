"""Help texts checked against the registries: sources, detectors and commands (as docs/cli.md is by test_cli)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest

from winnow.cli.main import COMMANDS, cli
from winnow.detections import detectors
from winnow.sources import sources


def winnow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def help_text(name: str | None = None) -> str:
    command = cli if name is None else cli.get_command(click.Context(cli), name)
    assert command is not None, name
    return command.get_help(click.Context(command, info_name=f"winnow {name or ''}".strip()))


def family(source: str) -> str:
    """The family a source belongs to, as its name says: zeek_tsv -> zeek, auth_syslog -> auth, evtx -> evtx."""
    return source.split("_")[0]


def names(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


def test_every_registered_source_is_listed():
    listed = [json.loads(line)["name"] for line in winnow("sources", "--format", "jsonl").stdout.splitlines()]
    assert sorted(listed) == sorted(sources())


def test_every_registered_detector_is_listed():
    listed = [json.loads(line)["name"] for line in winnow("detectors", "--format", "jsonl").stdout.splitlines()]
    assert sorted(listed) == sorted(detectors())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name):
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    assert COMMANDS[name][1].strip(), f"no one-line help for {name} in COMMANDS"
    assert (command.help or "").strip(), f"winnow {name} has no docstring"
    assert "Usage: winnow" in help_text(name)


@pytest.mark.parametrize("where", ["quick start", "ingest --help"])
def test_ingest_help_names_every_source_family(where):
    text = help_text() if where == "quick start" else help_text("ingest")
    if where == "quick start":
        text = text.split("Quick start:", 1)[1].split("Options:", 1)[0]
    missing = sorted({family(s) for s in sources() if not names(text, family(s))})
    assert not missing, f"{where} does not name: {', '.join(missing)}"


def test_simulate_help_names_what_it_writes(tmp_path):
    """Every format the simulator's logs are read as (sniffed by ingest) is named by 'winnow simulate --help'."""
    from winnow.ingest import ingest
    from winnow.sim import simulate

    simulate(tmp_path / "sim", hosts=5, seed=3)
    report = ingest([tmp_path / "sim"], tmp_path / "lake")
    written = {f.source_format for f in report.files if f.total_rows}
    assert {"zeek_tsv", "auditd", "windows_json"} <= written
    text = help_text("simulate")
    missing = sorted({family(s) for s in written if not names(text, family(s))})
    assert not missing, f"'winnow simulate --help' does not name: {', '.join(missing)}"
    assert "Zeek" in COMMANDS["simulate"][1] and "auditd" in COMMANDS["simulate"][1]

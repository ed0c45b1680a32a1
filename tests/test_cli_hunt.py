"""winnow hunt stack|timeline|pivot and winnow query: output, one-line refusals, terminal-safe tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hunt_fixture import C2, HOSTILE, hunt_lake

from winnow.cli.output import safe


def winnow(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], capture_output=True, text=True,
                          input=stdin, env=env, timeout=300)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return str(hunt_lake(tmp_path_factory, "cli-hunt"))


def test_query_prints_rows_as_jsonl_in_a_pipe(lake):
    result = winnow("query", "SELECT dst_port, count(*) AS n FROM net.conn GROUP BY 1 ORDER BY 1", "--lake", lake)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"dst_port": 80, "n": 5},
                                                                         {"dst_port": 443, "n": 3}]
    piped = winnow("query", "-", "--lake", lake, "--limit", "1", stdin="SELECT ts FROM net.conn ORDER BY ts;\n")
    assert piped.stdout.splitlines() == ['{"ts": "2026-11-02T00:01:00Z"}']


@pytest.mark.parametrize("sql, message", [
    ("COPY (SELECT * FROM net.conn) TO '/tmp/winnow-leak.csv'", "refused: COPY statements are not allowed"),
    ("SELECT * FROM read_csv('/etc/passwd')", "refused: only the lake's tables can be read"),
    ("DROP VIEW \"net.conn\"; SELECT 1", "one statement at a time"),
])
def test_query_refusals_are_one_line_errors(lake, sql, message):
    result = winnow("query", sql, "--lake", lake)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("winnow: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_stack_pivot_and_timeline_in_jsonl(lake):
    stacked = [json.loads(line) for line in winnow("hunt", "stack", "proc.exec", "image", "--by", "host",
                                                   "--lake", lake).stdout.splitlines()]
    assert stacked[0]["image"].endswith("evil.exe") and stacked[0]["distinct_host"] == 1
    assert stacked[0]["first_seen"] == "2026-11-02T00:00:50Z"
    pivoted = [json.loads(line) for line in winnow("hunt", "pivot", C2, "--lake", lake).stdout.splitlines()]
    assert pivoted[0]["table"] in ("net.conn", "net.conn_proc") and pivoted[0]["count"] == 3
    window = ("--since", "2026-11-02T00:00:50Z", "--until", "2026-11-02T00:00:51Z")
    shown = winnow("hunt", "timeline", "WS01", *window, "--lake", lake).stdout
    events = [json.loads(line) for line in shown.splitlines()]
    assert [e["table"] for e in events] == ["proc.exec", "win.event"]
    nothing = winnow("hunt", "pivot", "nothing-like-this", "--lake", lake)
    assert nothing.returncode == 0 and "appears in no table" in nothing.stderr


def test_stack_user_error_is_one_line(lake):
    result = winnow("hunt", "stack", "proc.exec", "nope", "--lake", lake)
    assert result.returncode == 1 and "proc.exec has no column 'nope'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["hunt", "stack", "proc.exec", "command_line"],
    ["hunt", "timeline", "evil.exe"],
    ["query", "SELECT command_line FROM proc.exec"],
])
def test_tables_show_terminal_escapes_escaped(lake, args):
    """A command line carrying colour and window-title sequences prints them as text, never raw."""
    out = winnow(*args, "--lake", lake, "--format", "table").stdout
    assert "\\x1b[31mred\\x1b]0;owned\\x07" in out
    assert "\x1b" not in out and "\x07" not in out


def test_safe_escapes_what_a_terminal_would_obey():
    assert safe(HOSTILE) == "evil.exe -c \\x1b[31mred\\x1b]0;owned\\x07 done"
    assert safe("a\rb\x9b2J\u202eexe.txt\tc\nd") == "a\\x0db\\x9b2J\\u202eexe.txt\tc\nd"
    assert safe("C:\\Windows\\cmd.exe ü") == "C:\\Windows\\cmd.exe ü"


def test_findings_table_escapes_entity_and_why():
    from winnow.cli.findings_view import cells

    row = {"detector": "sigma", "score": 0.9, "severity": "high", "entity": "WS01\x1b[2J",
           "first_seen": "2026-11-02T00:00:00Z", "last_seen": "2026-11-02T00:01:00Z", "why": HOSTILE}
    shown = cells(row)
    assert "\x1b" not in shown["entity / why"].plain and "\\x1b[2J" in shown["entity / why"].plain

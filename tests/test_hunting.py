"""Hunting verbs (stack, pivot, timeline, query) on small real lakes, and the read-only SQL sandbox."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from conftest import ingested_lake
from hunt_fixture import C2, T0, hunt_lake, write_endpoint_logs, write_network_logs

from winnow.engine import open_readonly
from winnow.errors import WinnowError
from winnow.hunting import pivot, query, stack, timeline


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return hunt_lake(tmp_path_factory, "hunt")


@pytest.fixture(scope="module")
def zeek_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "hunt-zeek", write_network_logs)


@pytest.fixture(scope="module")
def endpoint_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "hunt-endpoint", write_endpoint_logs)


# --- query: what runs ---------------------------------------------------------------------------------------------

def test_query_reads_tables_by_their_lake_names(lake):
    assert query(lake, "SELECT count(*) AS n FROM net.conn").to_pylist() == [{"n": 8}]
    assert query(lake, 'SELECT count(*) AS n FROM "proc.exec"').to_pylist() == [{"n": 8}]
    assert query(lake, "FROM findings SELECT detector").to_pylist() == [{"detector": "beacon"}]


def test_query_runs_ctes_joins_and_keeps_to_the_limit(lake):
    sql = """
        WITH resolved AS (SELECT DISTINCT unnest(answers) AS ip, query FROM net.dns)
        SELECT c.src_ip, r.query, count(*) AS n
        FROM net.conn c JOIN resolved r ON c.dst_ip = r.ip
        GROUP BY ALL;
    """
    assert query(lake, sql).to_pylist() == [{"src_ip": "10.0.0.5", "query": "a.evil.com", "n": 3}]
    assert query(lake, "SELECT * FROM net.conn ORDER BY ts", limit=2).num_rows == 2
    ts = query(lake, "SELECT min(ts) AS ts FROM net.conn").schema.field("ts").type
    assert ts == pa.timestamp("us", tz="UTC")


# --- query: what is refused ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, message", [
    ("COPY (SELECT * FROM net.conn) TO '{out}'", "COPY statements are not allowed"),
    ("COPY net.conn TO '{out}' (FORMAT parquet)", "COPY statements are not allowed"),
    ("ATTACH '{out}' AS other", "ATTACH statements are not allowed"),
    ("INSTALL httpfs", "INSTALL statements are not allowed"),
    ("FORCE INSTALL httpfs FROM 'http://example.com'", "FORCE statements are not allowed"),
    ("LOAD httpfs", "LOAD statements are not allowed"),
    ("INSERT INTO findings SELECT * FROM findings", "INSERT statements are not allowed"),
    ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
    ("CREATE VIEW v AS SELECT * FROM read_csv('/etc/passwd')", "CREATE statements are not allowed"),
    ("UPDATE findings SET score = 0", "UPDATE statements are not allowed"),
    ("DELETE FROM findings", "DELETE statements are not allowed"),
    ("DROP VIEW \"net.conn\"", "DROP statements are not allowed"),
    ("SET enable_external_access = true", "SET statements are not allowed"),
    ("RESET lock_configuration", "RESET statements are not allowed"),
    ("WITH x AS (SELECT 1) INSERT INTO findings SELECT * FROM findings", "INSERT statements are not allowed"),
    ("CALL pragma_version()", "CALL statements are not allowed"),
    ("EXPORT DATABASE '{out}'", "EXPORT statements are not allowed"),
    ("PRAGMA enable_profiling", "PRAGMA statements are not allowed"),
    ("SELECT 1; SELECT 2", "one statement at a time"),
    ("SELECT 1; COPY (SELECT 1) TO '{out}'", "one statement at a time"),
    ("SELECT * FROM read_csv('/etc/passwd')", "only the lake's tables can be read"),
    ("SELECT * FROM read_text('/etc/passwd')", "only the lake's tables can be read"),
    ("SELECT * FROM '/etc/passwd'", "query failed"),
    ("SELECT * FROM glob('/etc/*')", "only the lake's tables can be read"),
    ("SELECT * FROM read_text('{lake}/_manifest.jsonl')", "only the lake's tables can be read"),
    ("SELECT * FROM read_parquet('{lake}/../**/*.parquet')", "only the lake's tables can be read"),
    ("SELECT * FROM read_text('{lake}/net.conn/../_manifest.jsonl')", "only the lake's tables can be read"),
    ("SELECT * FROM read_blob('{lake}/net.conn/day=2026-11-02/../../findings.duckdb')",
     "only the lake's tables can be read"),
    ("SELECT * FROM read_text('http://example.com/')", "only the lake's tables can be read"),
    ("SELECT * FROM query('COPY (SELECT 1) TO ''{out}''')", "query failed"),
    ("SELEC 1", "not valid SQL"),
])
def test_query_refuses(lake, tmp_path, sql, message):
    out = tmp_path / "leak.csv"
    with pytest.raises(WinnowError, match=message) as caught:
        query(lake, sql.format(out=out, lake=lake))
    assert "\n" not in str(caught.value)
    assert not out.exists()


def test_query_refusals_leave_the_connection_locked(lake):
    with open_readonly(lake) as con:
        for sql in ("SET enable_external_access = true", "SET lock_configuration = false"):
            with pytest.raises(WinnowError):
                con.run(sql)
        with pytest.raises(WinnowError, match="only the lake's tables"):
            con.run("SELECT * FROM read_text('/etc/hostname')")
        assert con.run("SELECT count(*) AS n FROM net.dns").to_pylist() == [{"n": 1}]


def test_query_cannot_read_the_callers_python_variables(lake):
    secret = pa.table({"password": ["hunter2"]})  # DuckDB would find it by name if Python replacement scans were on
    with pytest.raises(WinnowError, match="query failed"):
        query(lake, "SELECT * FROM secret")
    assert secret.num_rows == 1


# --- stack ----------------------------------------------------------------------------------------------------------

def test_stack_puts_the_rarest_first_with_a_filter_for_each_value(lake):
    out = stack(lake, "proc.exec", "image", by="host").to_pylist()
    assert [(r["image"].rsplit("\\", 1)[1], r["count"], r["distinct_host"]) for r in out] == [
        ("evil.exe", 1, 1), ("explorer.exe", 3, 3), ("cmd.exe", 4, 3)]
    for row in out:
        n = query(lake, f"SELECT count(*) AS n FROM proc.exec WHERE {row['filter']}").column("n")[0].as_py()
        assert n == row["count"]
    assert out[0]["first_seen"] == out[0]["last_seen"] == dt.datetime.fromtimestamp(T0 + 50, dt.UTC)


def test_stack_where_and_limit(lake):
    out = stack(lake, "proc.exec", "command_line", where="image LIKE '%cmd.exe'", limit=1).to_pylist()
    assert [(r["command_line"], r["count"]) for r in out] == [("cmd.exe /c whoami", 1)]
    assert out[0]["filter"] == "(image LIKE '%cmd.exe') AND \"command_line\" = 'cmd.exe /c whoami'"
    ports = stack(lake, "net.conn", "dst_port", by="src_ip").to_pylist()
    assert [(r["dst_port"], r["distinct_src_ip"], r["filter"]) for r in ports] == [
        (443, 1, '"dst_port" = 443'), (80, 2, '"dst_port" = 80')]


@pytest.mark.parametrize("table, column, by, message", [
    ("proc.exec", "nope", None, "proc.exec has no column 'nope'"),
    ("proc.exec", "image", "nope", "proc.exec has no column 'nope'"),
    ("net.dns", "answers", None, "holds lists"),
    ("auth.logon", "user", None, "no table 'auth.logon'"),
])
def test_stack_user_errors(lake, table, column, by, message):
    with pytest.raises(WinnowError, match=message):
        stack(lake, table, column, by)


def test_stack_where_runs_in_the_sandbox(lake):
    with pytest.raises(WinnowError, match="only the lake's tables"):
        stack(lake, "proc.exec", "image", where="image IN (SELECT * FROM read_text('/etc/passwd'))")


# --- pivot ----------------------------------------------------------------------------------------------------------

def test_pivot_finds_every_table_and_column_of_a_value(lake):
    out = {(r["table"], r["column"]): r for r in pivot(lake, C2).to_pylist()}
    assert {k: r["count"] for k, r in out.items()} == {
        ("net.conn", "dst_ip"): 3, ("net.conn_proc", "dst_ip"): 3, ("proc.net", "dst_ip"): 1,
        ("net.dns", "answers"): 1, ("findings", "dst"): 1, ("ids.alert", "dst_ip"): 1}
    conn = out[("net.conn", "dst_ip")]
    assert (conn["first_seen"], conn["last_seen"]) == (dt.datetime.fromtimestamp(T0 + 60, dt.UTC),
                                                       dt.datetime.fromtimestamp(T0 + 180, dt.UTC))
    for (table, _), row in out.items():
        n = query(lake, f'SELECT count(*) AS n FROM "{table}" WHERE {row["filter"]}').column("n")[0].as_py()
        assert n == row["count"]


@pytest.mark.parametrize("value, expected", [
    ("evil.exe", {("proc.exec", "image"), ("proc.net", "image"), ("net.conn_proc", "image")}),
    ("WS02", {("proc.exec", "host"), ("win.event", "host")}),
    ("evil.com", {("net.dns", "query")}),
    ("443", {("net.conn", "dst_port"), ("net.conn_proc", "dst_port"), ("proc.net", "dst_port"),
             ("ids.alert", "dst_port")}),
    ("2052099", {("ids.alert", "signature_id")}),
    ("nothing-like-this", set()),
])
def test_pivot_matches_the_short_forms_a_hunter_types(lake, value, expected):
    assert {(r["table"], r["column"]) for r in pivot(lake, value).to_pylist()} == expected


def test_pivot_in_a_window(lake):
    since = dt.datetime.fromtimestamp(T0 + 120, dt.UTC)
    out = {(r["table"], r["column"]): r for r in pivot(lake, C2, since=since).to_pylist()}
    assert {k: r["count"] for k, r in out.items()} == {("net.conn", "dst_ip"): 2, ("net.conn_proc", "dst_ip"): 2,
                                                       ("ids.alert", "dst_ip"): 1}
    conn = out[("net.conn", "dst_ip")]
    assert conn["first_seen"] == since
    n = query(lake, f"SELECT count(*) AS n FROM net.conn WHERE {conn['filter']}").column("n")[0].as_py()
    assert n == 2
    assert pivot(lake, C2, until=dt.datetime.fromtimestamp(T0, dt.UTC)).num_rows == 0


def test_pivot_on_a_zeek_only_lake(zeek_lake):
    assert {(r["table"], r["column"]) for r in pivot(zeek_lake, "10.0.0.5").to_pylist()} == {
        ("net.conn", "src_ip"), ("net.dns", "src_ip")}


# --- timeline -------------------------------------------------------------------------------------------------------

def test_timeline_of_a_host_across_tables_and_findings(lake):
    out = timeline(lake, "WS01").to_pylist()
    assert [r["ts"] for r in out] == sorted(r["ts"] for r in out)
    assert {r["table"] for r in out} == {"proc.exec", "proc.net", "win.event", "net.conn_proc", "findings"}
    assert all(r["host"] == "WS01.example.local" for r in out)
    evil = next(r for r in out if r["table"] == "proc.exec" and "evil.exe" in r["summary"])
    assert evil["summary"].startswith("start C:\\Users\\alice\\evil.exe (pid 1040) as EXAMPLE\\alice: evil.exe -c")
    finding = next(r for r in out if r["table"] == "findings")
    assert (finding["match"], finding["src_ip"], finding["dst_ip"]) == ("host", "10.0.0.5", C2)
    assert finding["summary"] == f"beacon high 0.9: 10.0.0.5 reached {C2}:443 every 60 s"


def test_timeline_window_limit_and_row_shape(lake):
    since = dt.datetime.fromtimestamp(T0 + 60, dt.UTC)
    out = timeline(lake, "10.0.0.5", since=since, until=since + dt.timedelta(seconds=61))
    assert out.column_names == ["ts", "table", "match", "summary", "host", "user", "src_ip", "dst_ip", "image",
                                "source"]
    rows = out.to_pylist()
    conn = next(r for r in rows if r["table"] == "net.conn")
    assert conn["source"].endswith("conn.log:1")
    assert {(r["table"], r["match"]) for r in rows} == {
        ("net.conn", "src_ip"), ("net.conn_proc", "src_ip"), ("proc.net", "src_ip"), ("findings", "src"),
        ("ids.alert", "src_ip")}
    alert = next(r for r in rows if r["table"] == "ids.alert")
    assert alert["summary"].startswith(f"ET MALWARE Test C2 [A Network Trojan was detected, severity 1] tcp "
                                       f"10.0.0.5:50000 -> {C2}:443")
    assert all(since <= r["ts"] < since + dt.timedelta(seconds=61) for r in rows)
    assert timeline(lake, "10.0.0.5", limit=2).num_rows == 2
    assert timeline(lake, "nobody").num_rows == 0


def test_timeline_on_a_zeek_only_lake(zeek_lake):
    rows = timeline(zeek_lake, "a.evil.com").to_pylist()
    assert [(r["table"], r["summary"]) for r in rows] == [
        ("net.dns", f"10.0.0.5 asked 10.0.0.53 a.evil.com A: NOERROR [{C2}]")]


def test_one_connection_serves_several_calls(lake):
    with open_readonly(lake) as con:
        assert stack(con, "net.conn", "proto").num_rows == 1
        assert pivot(con, "10.0.0.6").num_rows == 1
        assert timeline(con, "10.0.0.6").num_rows == 3
        assert query(con, "SELECT 1 AS one").to_pylist() == [{"one": 1}]


def test_every_verb_on_an_endpoint_only_lake(endpoint_lake):
    assert {(r["table"], r["column"]) for r in pivot(endpoint_lake, C2).to_pylist()} == {("proc.net", "dst_ip")}
    assert [r["table"] for r in timeline(endpoint_lake, "evil.exe").to_pylist()] == ["proc.exec", "proc.net"]
    assert stack(endpoint_lake, "proc.exec", "user", by="host").to_pylist()[0]["distinct_host"] == 3
    tables = r"\(the lake's tables: proc.exec, proc.net, win.event\)"
    with pytest.raises(WinnowError, match=r"net.conn.* does not exist.*" + tables):
        query(endpoint_lake, "SELECT * FROM net.conn")

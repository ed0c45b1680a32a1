"""The workbench through FastAPI's TestClient on a simulated lake: every page and its JSON twin, one error
shape, verdicts in the CLI's store, the journal, the guard (host, token, CSRF) and hostile log text."""

from __future__ import annotations

import html
import re

import pytest
from markupsafe import escape

pytest.importorskip("fastapi", reason="pip install 'winnow[web]'")

from fastapi.testclient import TestClient  # noqa: E402
from webgen import XSS_COMMAND, XSS_HOST, XSS_HTTP_HOST, XSS_IMAGE, XSS_SOURCE, XSS_UA, XSS_URI, top_beacon  # noqa: E402

from winnow.web.app import create_app  # noqa: E402
from winnow.web.security import Guard  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def client(workbench_lake):
    return TestClient(create_app(workbench_lake), base_url=LOCAL)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)


@pytest.fixture(scope="module")
def beacon(client):
    """The top beacon finding's pair."""
    return top_beacon(client.get("/queue.json?limit=200").json()["rows"])


def page_paths(client, beacon) -> list[str]:
    top = client.get("/queue.json").json()["rows"][0]
    src, dst, port = beacon
    hunt = client.post("/journal", json={"title": "t", "hypothesis": "h"},
                       headers={"X-CSRF-Token": client.app.state.bench.guard.csrf()}).json()["hunt_id"]
    return ["/queue", f"/entity/{top['entity']}", f"/beacon?src={src}&dst={dst}&dport={port}", "/sensors", "/rate",
            "/journal", f"/hunt/{hunt}", "/stack", "/stack?table=proc.exec&column=image&by=host", "/pivot",
            f"/pivot?value={XSS_SOURCE}", "/query", "/query?sql=SELECT%201%20AS%20one", "/timeline",
            f"/timeline?entity={XSS_SOURCE}"]


def twin(path: str) -> str:
    base, _, query = path.partition("?")
    return base + ".json" + (f"?{query}" if query else "")


def test_every_page_and_its_json_twin(client, beacon):
    for path in page_paths(client, beacon):
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["content-type"].startswith("text/html") and "<nav>" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        data = client.get(twin(path))
        assert data.status_code == 200 and data.json()["ok"] is True, (path, data.text[:300])


def test_queue_is_the_cli_queue(client, workbench_lake):
    from winnow.triage.queue import queue

    shown = client.get("/queue.json?limit=5").json()["rows"]
    assert [(r["entity_type"], r["entity"]) for r in shown] == [(r["entity_type"], r["entity"])
                                                                for r in queue(workbench_lake, None, (), 5)]
    assert all(r["why"] and r["contributions"] for r in shown)
    hosts = client.get("/queue.json?type=host").json()["rows"]
    assert hosts and {r["entity_type"] for r in hosts} == {"host"}


def test_entity_page_has_risk_findings_timeline_graph_and_processes(client):
    top = next(r for r in client.get("/queue.json?type=host").json()["rows"])
    data = client.get(f"/entity/{top['entity']}.json", params={"type": "host"}).json()
    assert data["entity_type"] == "host" and data["risk"]["score"] == pytest.approx(top["risk"])
    assert sum(c["share"] for c in data["risk"]["contributions"]) == pytest.approx(data["risk"]["score"], abs=1e-3)
    assert {f["detector"] for f in data["findings"]} <= set(data["risk"]["detectors"]) and data["findings"]
    times = [r["ts"] for r in data["timeline"]]
    assert times == sorted(times) and {"net.conn", "proc.exec"} <= {r["table"] for r in data["timeline"]}
    assert data["graph"]["nodes"] and all(n["rows"] > 0 for n in data["graph"]["nodes"])
    assert {"ip", "external", "user", "process"} & {n["type"] for n in data["graph"]["nodes"]}
    assert data["processes"] is not None and data["addresses"]
    assert data["profiles"] and all(len(p["hours"]) == len(p["values"]) == len(p["low"]) for p in data["profiles"])


def test_beacon_page_estimates_the_period(client, workbench_lake, beacon):
    from winnow.lake import Lake
    from winnow.store import FindingsStore

    src, dst, port = beacon
    data = client.get("/beacon.json", params={"src": src, "dst": dst, "dport": port}).json()
    assert data["shown"] == len(data["series"]["ts"]) == data["connections"] > 10
    with FindingsStore(Lake.open(str(workbench_lake)), read_only=True) as store:
        found = next(f for f in store.query(detectors=["beacon"]) if f["entity"] == f"{src}->{dst}:{port}")
    assert data["estimate"]["period_s"] == pytest.approx(found["evidence"]["period_s"], rel=0.1)
    assert sum(data["histogram"]["counts"]) == data["shown"] - 1


def test_sensors_page_is_the_coverage_table(client, workbench_lake):
    from winnow.engine import Window, connect
    from winnow.pipeline.detect import build_detector

    with connect("duckdb", workbench_lake) as engine:
        rows = build_detector("sensor_health").coverage(engine, Window())
    shown = client.get("/sensors.json?all=true").json()["rows"]
    assert [(r["feed"], r["reporter"], r["state"]) for r in shown] == [(r["feed"], r["reporter"], r["state"])
                                                                       for r in rows]


def test_errors_have_one_shape(client):
    for path, status in [("/beacon.json", 400), ("/hunt/nope.json", 400), ("/nowhere.json", 404),
                         ("/queuex", 404)]:
        got = client.get(path)
        assert got.status_code == status and got.json() == {"ok": False, "error": got.json()["error"]}, path
        assert got.json()["error"]
    page = client.get("/hunt/nope", headers={"Accept": "text/html"})
    assert page.status_code == 400 and "no hunt" in page.text and page.headers["content-type"].startswith("text/html")


def test_verdict_is_stored_where_the_cli_stores_it(client, workbench_lake):
    from winnow.triage.ratings import RatingStore

    row = client.get("/queue.json").json()["rows"][1]
    subject = f"{row['entity_type']}:{row['entity']}"
    token = csrf_of(client.get("/queue", headers={"Accept": "text/html"}).text)
    sent = client.post("/verdict", data={"csrf": token, "subject": subject, "verdict": "tp", "note": "seen it",
                                         "analyst": "web-test"})
    assert sent.status_code == 200 and sent.json()["rating"]["rating"] == 5
    with RatingStore(workbench_lake, read_only=True) as store:
        mine = [r for r in store.all() if r.analyst == "web-test"]
    assert [(r.subject.lower(), r.rating, r.note, r.source) for r in mine] == [(subject.lower(), 5, "seen it",
                                                                                 "verdict")]
    again = next(r for r in client.get("/queue.json").json()["rows"] if r["entity"] == row["entity"])
    assert {"analyst": "web-test", "note": "seen it"}.items() <= again["decisions"][0].items()
    undone = client.post("/verdict", data={"csrf": token, "subject": subject, "undo": "1", "analyst": "web-test"})
    assert undone.json()["removed"] == 1
    wrong = client.post("/verdict", data={"csrf": token, "subject": "host:no-such-host", "verdict": "tp"})
    assert wrong.status_code == 400 and "no such entity" in wrong.json()["error"]


def test_state_changes_need_the_csrf_token_and_this_site(client):
    form = {"title": "x", "hypothesis": "y"}
    assert client.post("/journal", data=form).status_code == 403
    assert client.post("/journal", data={**form, "csrf": "0" * 64}).status_code == 403
    token = client.app.state.bench.guard.csrf()
    cross = client.post("/journal", data={**form, "csrf": token}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and cross.json()["error"] == "cross-site request refused"
    site = client.post("/journal", data={**form, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert site.status_code == 403
    opaque = client.post("/journal", data={**form, "csrf": token}, headers={"Origin": "null"})
    assert opaque.status_code == 403
    assert client.get("/queue").headers["referrer-policy"] == "same-origin"  # so browsers send the real Origin
    ok = client.post("/journal", data={**form, "csrf": token},
                     headers={"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200 and ok.json()["hunt_id"]


def test_loopback_answers_only_loopback_names_and_a_token_guards_the_rest(workbench_lake):
    local = TestClient(create_app(workbench_lake), base_url=LOCAL)
    assert local.get("/sensors.json", headers={"Host": "attacker.example"}).status_code == 403
    guarded = TestClient(create_app(workbench_lake, Guard(token="s3cret", loopback=False)),
                         base_url="http://10.0.0.1:8765")
    refused = guarded.get("/journal.json")
    assert refused.status_code == 401 and refused.json()["ok"] is False
    first = guarded.get("/journal.json?token=s3cret")
    assert first.status_code == 200 and "winnow_token" in first.cookies
    assert guarded.get("/journal.json").status_code == 200  # the cookie
    assert TestClient(guarded.app).get("/journal.json", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_only_loopback_goes_without_a_token():
    from winnow.web.security import guard_for

    assert guard_for("127.0.0.1").token is None and guard_for("::1").token is None
    assert guard_for("localhost", "mine").token == "mine"
    anywhere = guard_for("0.0.0.0")
    assert anywhere.token and len(anywhere.token) >= 24 and guard_for("0.0.0.0").token != anywhere.token
    assert guard_for("10.0.0.7", "given").token == "given"


def test_journal_documents_a_hunt_and_exports_markdown(client, workbench_lake):
    from winnow.store.journal import Journal

    token = {"X-CSRF-Token": client.app.state.bench.guard.csrf()}
    hunt = client.post("/journal", json={"title": "C2 over 443", "hypothesis": "a host beacons out",
                                         "analyst": "ana"}, headers=token).json()["hunt_id"]
    for kind, body in [("query", "winnow findings --detector beacon"), ("finding", "beacon:10.1.0.5->1.2.3.4:443"),
                       ("note", "fixed period, tiny sizes")]:
        assert client.post(f"/hunt/{hunt}/entry", json={"kind": kind, "body": body}, headers=token).status_code == 200
    client.post(f"/hunt/{hunt}/outcome", json={"outcome": "confirmed", "conclusion": "implant"}, headers=token)
    with Journal(workbench_lake, read_only=True) as journal:
        stored = journal.hunt(hunt)
    assert stored["outcome"] == "confirmed" and [e["kind"] for e in stored["entries"]] == ["query", "finding", "note"]
    text = client.get(f"/hunt/{hunt}.md").text
    for part in ("# C2 over 443", "## Hypothesis", "winnow findings --detector beacon", "beacon:10.1.0.5->1.2.3.4:443",
                 "## Outcome", "confirmed: implant"):
        assert part in text
    assert client.post(f"/hunt/{hunt}/outcome", json={"outcome": "maybe"}, headers=token).status_code == 400


def test_rate_page_stores_a_rating(client, workbench_lake):
    from winnow.triage.ratings import RatingStore

    card = client.get("/rate.json?analyst=rater&real=true").json()["card"]
    token = {"X-CSRF-Token": client.app.state.bench.guard.csrf()}
    sent = client.post("/rate", json={"card": card["id"], "rating": "4", "analyst": "rater"}, headers=token)
    assert sent.status_code == 200
    with RatingStore(workbench_lake, read_only=True) as store:
        assert [(r.subject, r.rating, r.source) for r in store.all() if r.analyst == "rater"] == [(card["id"], 4,
                                                                                                   "rate")]
    following = client.get("/rate.json?analyst=rater&real=true").json()["card"]
    assert following is None or following["id"] != card["id"]


def test_hostile_log_text_is_shown_and_inert(client, workbench_lake):
    from winnow.web.report import build_report

    network = client.get(f"/entity/{XSS_SOURCE}", headers={"Accept": "text/html"}).text
    assert html.escape(XSS_UA, quote=False) in network.replace("&#39;", "'").replace("&#34;", '"')
    process = client.get(f"/entity/{XSS_HOST}:{XSS_IMAGE.lower()}", params={"type": "process"},
                         headers={"Accept": "text/html"})
    assert process.status_code == 200
    pages = [network, process.text, client.get("/queue?limit=500", headers={"Accept": "text/html"}).text,
             build_report(workbench_lake, top=500)]
    for text in pages:
        for raw in (XSS_UA, XSS_URI, XSS_HTTP_HOST, XSS_IMAGE, XSS_COMMAND, "<script>window", "<img src=x",
                    "<svg onload", "\x1b"):
            assert raw not in text
    assert "\\x1b[31mpowershell" in process.text
    assert "onerror=window.__xss=6" in pages[3]  # shown, as text
    data = client.get(f"/entity/{XSS_SOURCE}.json").json()
    assert any(r["fields"].get("user_agent") == XSS_UA for r in data["timeline"])  # JSON carries the value as is


def test_stack_page_is_hunting_stack_and_each_value_links_to_its_rows(client, workbench_lake):
    from winnow.hunting import stack

    data = client.get("/stack.json", params={"table": "proc.exec", "column": "image", "by": "host"}).json()
    expected = stack(workbench_lake, "proc.exec", "image", by="host").to_pylist()
    assert [(r["image"], r["count"], r["distinct_host"]) for r in data["rows"]] == [
        (r["image"], r["count"], r["distinct_host"]) for r in expected]
    assert "image" in data["tables"]["proc.exec"] and "net.conn" in data["tables"]
    rarest = data["rows"][0]
    assert rarest["link"].startswith("/query?sql=SELECT+%2A+FROM+%22proc.exec%22+WHERE+")
    rows = client.get(rarest["link"].replace("/query?", "/query.json?")).json()
    image = rows["columns"].index("image")
    assert len(rows["rows"]) == rarest["count"] and {r[image] for r in rows["rows"]} == {rarest["image"]}
    page = client.get("/stack", params={"table": "proc.exec", "column": "image", "by": "host"},
                      headers={"Accept": "text/html"}).text
    assert str(escape(rarest["link"])) in page and "<td class=\"num\">" in page
    udp = {"table": "net.conn", "column": "dst_port", "where": "proto = 'udp'"}
    where = client.get("/stack.json", params=udp).json()
    assert where["rows"] and all(r["filter"].startswith("(proto = 'udp') AND ") for r in where["rows"])
    breakout = "1=1) UNION SELECT * FROM read_csv('/etc/passwd'"
    for bad in ({"table": "net.conn", "column": "nope"}, {"table": "no.table", "column": "x"},
                {"table": "net.conn", "column": "dst_port", "where": breakout}):
        got = client.get("/stack.json", params=bad)
        assert got.status_code == 400 and set(got.json()) == {"ok", "error"} and "Traceback" not in got.text, bad


def test_pivot_page_is_hunting_pivot_and_links_to_the_rows(client, workbench_lake):
    from winnow.hunting import pivot

    data = client.get("/pivot.json", params={"value": XSS_SOURCE}).json()
    expected = pivot(workbench_lake, XSS_SOURCE).to_pylist()
    assert [(r["table"], r["column"], r["count"]) for r in data["rows"]] == [(r["table"], r["column"], r["count"])
                                                                            for r in expected]
    http = next(r for r in data["rows"] if r["table"] == "net.http")
    rows = client.get(http["link"].replace("/query?", "/query.json?")).json()
    assert len(rows["rows"]) == http["count"] == 3
    assert client.get("/pivot.json", params={"value": "no-such-value-anywhere"}).json()["rows"] == []
    page = client.get("/pivot", params={"value": XSS_SOURCE}, headers={"Accept": "text/html"}).text
    assert 'href="/timeline?entity=10.1.0.250"' in page and 'class="pivot-search"' in page


def test_query_page_runs_one_select_and_shows_its_rows(client):
    got = client.get("/query.json", params={"sql": "SELECT dst_port, count(*) AS n FROM net.conn GROUP BY ALL "
                                                   "ORDER BY n DESC, dst_port", "limit": 3}).json()
    assert got["columns"] == ["dst_port", "n"] and len(got["rows"]) == 3 and got["rows"][0][1] >= got["rows"][1][1]
    token = {"X-CSRF-Token": client.app.state.bench.guard.csrf()}
    posted = client.post("/query.json", json={"sql": 'SELECT count(*) AS n FROM "proc.exec"'}, headers=token).json()
    assert posted["ok"] and posted["rows"][0][0] > 0
    assert client.post("/query.json", json={"sql": "SELECT 1"}).status_code == 403  # no CSRF token
    page = client.post("/query", data={"csrf": token["X-CSRF-Token"], "sql": "SELECT 'a<b>' AS x"},
                       headers={"Accept": "text/html"})
    assert page.status_code == 200 and "<td>a&lt;b&gt;</td>" in page.text
    odd = client.get("/query.json", params={"sql": "SELECT 1.5 AS d, 2::DECIMAL(9, 2) AS w, 'a'::BLOB AS b, "
                                                   "TIME '12:00' AS t, DATE '2026-01-01' AS day"}).json()
    assert odd["rows"] == [[1.5, 2, "a", "12:00:00", "2026-01-01"]]  # every SQL value as JSON


REFUSED = {
    "write": "DELETE FROM net.conn",
    "create": "CREATE TABLE t AS SELECT 1",
    "copy": "COPY (SELECT 1) TO '/tmp/winnow-web-copy.csv'",
    "attach": "ATTACH '/tmp/x.duckdb' AS x",
    "install": "INSTALL httpfs",
    "set": "SET enable_external_access = true",
    "pragma": "PRAGMA version",
    "several": "SELECT 1; SELECT 2",
    "file read": "SELECT * FROM read_csv('/etc/passwd')",
    "syntax": "SELEC 1",
    "no table": "SELECT * FROM nowhere",
    "empty": "   ",
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_every_refused_statement_is_a_400_in_the_one_error_shape(client, kind):
    sql = REFUSED[kind]
    token = client.app.state.bench.guard.csrf()
    for got in (client.get("/query.json", params={"sql": sql}),
                client.post("/query", json={"sql": sql}, headers={"X-CSRF-Token": token})):
        if kind == "empty":  # nothing to run: the form alone
            assert got.status_code == 200 and got.json()["rows"] is None
            continue
        assert got.status_code == 400, (kind, got.text[:300])
        assert set(got.json()) == {"ok", "error"} and got.json()["ok"] is False and got.json()["error"]
        assert "Traceback" not in got.text and "internal error" not in got.text
    if kind != "empty":
        page = client.get("/query", params={"sql": sql}, headers={"Accept": "text/html"})
        assert page.status_code == 400 and 'id="query-error"' in page.text and "Traceback" not in page.text
        assert str(escape(sql)) in page.text  # the statement stays in the form, to be fixed


def test_saved_queries_are_stored_listed_run_and_deleted(client, workbench_lake):
    from winnow.store.journal import Journal

    token = csrf_of(client.get("/query", headers={"Accept": "text/html"}).text)
    sql = "SELECT host, count(*) AS n FROM \"proc.exec\" GROUP BY host ORDER BY n DESC"
    assert client.post("/query/saved", data={"name": "busy hosts", "sql": sql}).status_code == 403
    assert client.post("/query/saved", data={"name": "x", "sql": sql, "csrf": token},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    saved = client.post("/query/saved", data={"name": "busy hosts", "sql": sql, "csrf": token}, follow_redirects=False,
                        headers={"Accept": "text/html"})
    assert saved.status_code == 303 and saved.headers["location"] == "/query?saved=busy+hosts"
    with Journal(workbench_lake, read_only=True) as journal:
        assert [(q["name"], q["sql"]) for q in journal.saved_queries()] == [("busy hosts", sql)]
        assert journal.hunts() is not None  # beside the hunts, in the same file
    listed = client.get("/query.json").json()["saved"]
    assert [q["name"] for q in listed] == ["busy hosts"]
    ran = client.get("/query.json", params={"saved": "busy hosts"}).json()
    assert ran["sql"] == sql and ran["columns"] == ["host", "n"] and ran["rows"]
    page = client.get("/query", headers={"Accept": "text/html"}).text
    assert 'href="/query?saved=busy%20hosts"' in page and 'action="/query/saved/delete"' in page
    refused = client.post("/query/saved", data={"name": "bad", "sql": "DROP TABLE x", "csrf": token})
    assert refused.status_code == 400 and "refused" in refused.json()["error"]
    assert client.post("/query/saved", data={"name": " ", "sql": "SELECT 1", "csrf": token}).status_code == 400
    assert client.post("/query/saved/delete", data={"name": "busy hosts"}).status_code == 403
    deleted = client.post("/query/saved/delete", data={"name": "busy hosts", "csrf": token})
    assert deleted.status_code == 200 and deleted.json() == {"ok": True, "deleted": "busy hosts"}
    assert client.get("/query.json").json()["saved"] == []
    assert client.post("/query/saved/delete", data={"name": "busy hosts", "csrf": token}).status_code == 400
    assert client.get("/query.json", params={"saved": "busy hosts"}).status_code == 400


def test_entity_page_links_its_pivot_and_timeline(client):
    page = client.get(f"/entity/{XSS_SOURCE}", headers={"Accept": "text/html"}).text
    assert f'href="/pivot?value={XSS_SOURCE}"' in page and f'href="/timeline?entity={XSS_SOURCE}"' in page
    process = client.get(f"/entity/{XSS_HOST}:{XSS_IMAGE.lower()}", params={"type": "process"},
                         headers={"Accept": "text/html"}).text
    assert 'id="pivot-link"' in process and "/pivot?value=c%3A%5Cusers" in process
    events = client.get("/timeline.json", params={"entity": XSS_SOURCE}).json()["rows"]
    assert {r["table"] for r in events} >= {"net.http"} and [r["ts"] for r in events] == sorted(r["ts"] for r in events)


def test_hostile_log_text_is_inert_on_the_hunting_pages(client):
    where = f"src_ip = '{XSS_SOURCE}'"
    pages = {
        "stack": client.get("/stack", params={"table": "net.http", "column": "user_agent", "where": where},
                            headers={"Accept": "text/html"}),
        "query": client.get("/query", params={"sql": 'SELECT user_agent, uri, host FROM "net.http" WHERE ' + where},
                            headers={"Accept": "text/html"}),
        "pivot": client.get("/pivot", params={"value": XSS_UA}, headers={"Accept": "text/html"}),
        "timeline": client.get("/timeline", params={"entity": XSS_SOURCE}, headers={"Accept": "text/html"}),
        "process": client.get("/query", params={"sql": "SELECT image, command_line FROM \"proc.exec\" "
                                                        "WHERE pid = 31337"}, headers={"Accept": "text/html"}),
    }
    for name, got in pages.items():
        assert got.status_code == 200, (name, got.text[:300])
        for raw in (XSS_UA, XSS_URI, XSS_HTTP_HOST, XSS_IMAGE, XSS_COMMAND, "<script>window", "<img src=x",
                    "<svg onload", "\x1b"):
            assert raw not in got.text, (name, raw)
    for name in ("stack", "query", "pivot"):
        assert str(escape(XSS_UA)) in pages[name].text, name  # shown, as text
    assert "\\x1b[31mpowershell" in pages["process"].text

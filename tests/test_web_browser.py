"""The workbench in real headless Chromium (Playwright) against a real server: every page loads and draws,
a verdict clicked survives a restart, the beacon chart draws one point per connection, hostile log
text runs nothing. Screenshots of each page go to $WINNOW_SCREENSHOTS (default: a temporary folder)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

pytest.importorskip("fastapi", reason="pip install 'winnow[web]'")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (and apt-get install chromium)")

from webgen import INJECTED, XSS_HOST, XSS_IMAGE, XSS_SOURCE, XSS_UA, top_beacon  # noqa: E402

CHROMIUM = os.environ.get("WINNOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class Server:
    """``winnow serve`` in a subprocess on a free loopback port."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                            os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-m", "winnow.cli.main", "serve", "--lake", str(self.lake),
                                         "--port", str(self.port)], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/journal.json", timeout=2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode()) from None
                time.sleep(0.2)
        raise RuntimeError("winnow serve did not come up in 60 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture(scope="module")
def server(workbench_lake):
    running = Server(workbench_lake).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium: apt-get install chromium (and pip install playwright; never 'playwright install')")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("WINNOW_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.errors = []
    tab.dialogs = []
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def json_of(server: Server, path: str) -> dict:
    import json

    with urllib.request.urlopen(server.url + path, timeout=60) as response:
        return json.loads(response.read())


def beacon_pair(server: Server) -> tuple[str, str, int]:
    return top_beacon(json_of(server, "/queue.json?limit=200")["rows"])


def test_every_page_loads_draws_and_is_photographed(server, page, shots):
    top = json_of(server, "/queue.json?type=host")["rows"][0]["entity"]
    src, dst, port = beacon_pair(server)
    pages = {"queue": "/queue", "entity": f"/entity/{top}?type=host", "beacon": f"/beacon?src={src}&dst={dst}"
             f"&dport={port}", "sensors": "/sensors?all=true", "rate": "/rate", "journal": "/journal",
             "stack-form": "/stack", "query-form": "/query", "timeline": f"/timeline?entity={XSS_SOURCE}"}
    for name, path in pages.items():
        page.goto(server.url + path, wait_until="load")
        assert page.locator("nav a").count() >= 4, name
        if name == "entity":
            page.wait_for_selector("#graph[data-nodes]")
            assert int(page.get_attribute("#graph", "data-nodes")) > 1
            page.wait_for_selector("#timeline-chart[data-points-all]")
            assert int(page.get_attribute("#timeline-chart", "data-points-all")) > 0
            assert page.locator(".profile-chart canvas").count() >= 1
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert not page.errors, (name, page.errors)
    assert all((shots / f"{n}.png").stat().st_size > 10_000 for n in pages)


def test_a_clicked_verdict_survives_a_restart(workbench_lake, browser):
    server = Server(workbench_lake).start()
    try:
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(f"{server.url}/queue", wait_until="load")
        row = tab.locator("table.queue tbody tr").nth(2)
        subject = row.get_attribute("data-entity")
        row.locator("input[name=note]").fill("beacons every minute <b>bold?</b>")
        with tab.expect_navigation():
            row.locator("button.tp").click()
        assert tab.url.endswith("/queue"), tab.content()[:2000]
        assert "beacons every minute <b>bold?</b>" in tab.locator(f'tr[data-entity="{subject}"] .decided').inner_text()
        context.close()
    finally:
        server.stop()
    server = Server(workbench_lake).start()
    try:
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(f"{server.url}/queue", wait_until="load")
        decided = tab.locator(f'tr[data-entity="{subject}"] .decided').inner_text()
        assert "tp · beacons every minute <b>bold?</b>" in decided
        assert tab.locator(".decided b").count() == 0  # the note's markup is text
        context.close()
    finally:
        server.stop()
    from winnow.triage.verdicts import undo

    assert undo(workbench_lake, subject) == 1


def test_beacon_chart_draws_one_point_per_connection(server, page, shots):
    src, dst, port = beacon_pair(server)
    data = json_of(server, f"/beacon.json?src={src}&dst={dst}&dport={port}")
    page.goto(f"{server.url}/beacon?src={src}&dst={dst}&dport={port}", wait_until="load")
    page.wait_for_selector("#timeline-chart[data-points]")
    assert int(page.get_attribute("#timeline-chart", "data-points")) == data["shown"] == len(data["series"]["ts"])
    sizes = sum(v is not None for v in data["series"]["src_bytes"])
    assert int(page.get_attribute("#size-chart", "data-points")) == sizes
    assert page.locator("#interval-chart canvas").count() == 1
    assert page.locator("#period").inner_text().endswith(" s")
    assert not page.errors


def test_hostile_log_text_runs_nothing(server, page, workbench_lake, tmp_path, shots):
    from winnow.web.report import write_report

    report = write_report(workbench_lake, tmp_path / "report.html", top=500)
    hunting = {"table": "net.http", "column": "user_agent", "where": f"src_ip = '{XSS_SOURCE}'"}
    urls = [f"{server.url}/entity/{XSS_SOURCE}", f"{server.url}/queue?limit=500",
            f"{server.url}/entity/{XSS_HOST}:{XSS_IMAGE.lower()}?type=process", report.as_uri(),
            f"{server.url}/stack?{urlencode(hunting)}", f"{server.url}/pivot?{urlencode({'value': XSS_UA})}",
            f"{server.url}/query?" + urlencode({"sql": "SELECT * FROM \"net.http\" WHERE " + hunting["where"]}),
            f"{server.url}/timeline?entity={XSS_SOURCE}"]
    for url in urls:
        page.goto(url, wait_until="load")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None, url
        for selector in INJECTED[1:]:
            assert page.locator(selector).count() == 0, (url, selector)
        scripts = page.evaluate("[...document.scripts].map(s => s.src || s.type)")
        assert all(s.startswith(server.url + "/static/") or s == "application/json" for s in scripts), scripts
    page.goto(urls[0], wait_until="load")
    assert "<script>window.__xss=1" in page.locator("table.timeline").inner_text()  # shown as text
    for url in urls[4:7]:
        page.goto(url, wait_until="load")
        assert XSS_UA in page.locator("main").inner_text(), url
    page.screenshot(path=str(shots / "hostile.png"))
    assert not page.dialogs and not page.errors


def test_stack_click_through_pivot_and_query(server, page, shots):
    """Stack proc.exec's images by host from the form, click the rarest through to its rows; pivot from the
    nav bar's box; run a query, save it, run it from the list, delete it."""
    page.goto(f"{server.url}/stack", wait_until="load")
    page.select_option("#stack-table", "proc.exec")
    assert page.locator('select[name=column] optgroup[data-table="net.conn"]').get_attribute("hidden") is not None
    for name, column in (("column", "image"), ("by", "host")):
        option = page.locator(f'select[name={name}] optgroup[data-table="proc.exec"] option[value={column}]')
        page.locator(f"select[name={name}]").select_option(element=option.element_handle())
    with page.expect_navigation():
        page.click("#stack-form button[type=submit]")
    assert "table=proc.exec" in page.url and "column=image" in page.url and "by=host" in page.url
    first = page.locator("table.stack tbody tr").first
    value = first.locator("td.value").inner_text()
    count = int(first.locator("td.num").first.inner_text().replace(",", ""))
    page.screenshot(path=str(shots / "stack.png"), full_page=True)
    with page.expect_navigation():
        first.locator("a.rows").click()
    assert "/query?sql=SELECT" in page.url
    assert 'FROM "proc.exec" WHERE "image" =' in page.locator("#sql").input_value()
    images = page.locator("table.results thead th").all_inner_texts().index("image")
    cells = page.locator(f"table.results tbody tr td:nth-child({images + 1})").all_inner_texts()
    assert len(cells) == count and set(cells) == {value}
    page.screenshot(path=str(shots / "stack-rows.png"), full_page=True)

    page.fill("header input[name=value]", XSS_SOURCE)
    with page.expect_navigation():
        page.press("header input[name=value]", "Enter")
    assert page.url.endswith(f"/pivot?value={XSS_SOURCE}")
    tables = page.locator("table.pivot tbody tr td:first-child").all_inner_texts()
    assert "net.http" in tables
    page.screenshot(path=str(shots / "pivot.png"), full_page=True)

    page.goto(f"{server.url}/query", wait_until="load")
    page.fill("#sql", "SELECT dst_port, count(*) AS n FROM net.conn GROUP BY ALL ORDER BY n DESC, dst_port LIMIT 5")
    with page.expect_navigation():
        page.click("#query-form button:has-text('run')")
    assert page.locator("table.results thead th").all_inner_texts() == ["dst_port", "n"]
    assert page.locator("table.results tbody tr").count() == 5
    page.fill("input[name=name]", "top ports")
    with page.expect_navigation():
        page.click("#save")
    assert page.url.endswith("/query?saved=top+ports")
    assert page.locator("table.results tbody tr").count() == 5
    assert page.locator("table.saved tbody tr").first.locator("a").inner_text() == "top ports"
    page.screenshot(path=str(shots / "query.png"), full_page=True)
    page.fill("#sql", "DROP TABLE net.conn")
    with page.expect_navigation():
        page.click("#query-form button:has-text('run')")
    assert "refused: DROP statements are not allowed" in page.locator("#query-error").inner_text()
    assert page.locator("#sql").input_value() == "DROP TABLE net.conn"
    page.screenshot(path=str(shots / "query-refused.png"), full_page=True)
    with page.expect_navigation():
        page.locator("table.saved tbody tr").first.locator("button.delete").click()
    assert page.locator("table.saved tbody").inner_text().startswith("none saved yet")
    assert not page.errors and not page.dialogs

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

import pytest

pytest.importorskip("fastapi", reason="pip install 'winnow[web]'")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (and apt-get install chromium)")

from webgen import INJECTED, XSS_HOST, XSS_IMAGE, XSS_SOURCE, top_beacon  # noqa: E402

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
             f"&dport={port}", "sensors": "/sensors?all=true", "rate": "/rate", "journal": "/journal"}
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
    urls = [f"{server.url}/entity/{XSS_SOURCE}", f"{server.url}/queue?limit=500",
            f"{server.url}/entity/{XSS_HOST}:{XSS_IMAGE.lower()}?type=process", report.as_uri()]
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
    page.screenshot(path=str(shots / "hostile.png"))
    assert not page.dialogs and not page.errors

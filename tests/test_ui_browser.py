"""The web page in a real browser (Debian's chromium through /usr/bin/chromedriver) against a
real `romancy serve` process on a free 127.0.0.1 port with a temporary project.

Without chromium or its driver these tests are skipped with the reason, unless
ROMANCY_TEST_BROWSER_REQUIRED=1 (set by .ci/run) turns that into a failure.
ROMANCY_TEST_CHROMIUM and ROMANCY_TEST_CHROMEDRIVER point at other binaries."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from cli_helpers import Project
from test_serve_cli import Served, start_server

CHROMIUM = os.environ.get("ROMANCY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ROMANCY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parent.parent / "build"
WAIT = 20  # seconds: a bound on every wait for the page, never a timing assertion
PAYLOAD = "<script>window.pwned=1</script>"

WORKFLOWS = '''
from romancy_cli import activity, wait_event, workflow


@activity
def reserve_stock(ctx, order_id: str) -> dict:
    return {"reservation": "RSV-" + order_id}


@workflow
def order(ctx, order_id: str, quantity: int = 1) -> dict:
    """Reserve stock, then wait for the payment of this order."""
    reserve_stock.execute(ctx, order_id)
    paid = wait_event(ctx, "payment.completed", timeout="30m", match={"order_id": order_id})
    return {"order_id": order_id, "quantity": quantity, "paid": paid.data}
'''


@pytest.fixture(autouse=True)
def browser_installed() -> None:
    """Skip (or, in CI, fail) before any server starts when the browser is not installed."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    reason = (f"browser tests need {' and '.join(missing)} (Debian: apt-get install chromium "
              "chromium-driver)")
    if os.environ.get("ROMANCY_TEST_BROWSER_REQUIRED") == "1":
        pytest.fail(f"browser required (ROMANCY_TEST_BROWSER_REQUIRED=1): {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    project = Project(tmp_path)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n')
    project.write("workflows.py", WORKFLOWS)
    server = start_server(project, "--no-reload", "--dev")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="romancy-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=900,1250"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def until(driver: webdriver.Chrome, check: Callable[[Any], Any]) -> Any:
    # The instance page swaps its detail in when the instance changes: an element read just
    # before a swap is stale, and read again.
    return WebDriverWait(driver, WAIT, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(check)


def status_of(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#detail h1 .st").text


def start_from_form(driver: webdriver.Chrome, base: str, order_id: str) -> str:
    driver.get(base + "ui/workflows")
    form = driver.find_element(By.CSS_SELECTOR, "#wf-order form")
    form.find_element(By.NAME, "order_id").send_keys(order_id)
    form.find_element(By.NAME, "quantity").send_keys("3")
    form.find_element(By.TAG_NAME, "button").click()
    until(driver, lambda d: "/ui/instances/" in d.current_url)
    return driver.current_url.rsplit("/", 1)[1]


def test_start_wait_send_complete_and_cancel_in_the_browser(served: Served, browser: webdriver.Chrome) -> None:
    base = served.url
    browser.get(base)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Instances"

    iid = start_from_form(browser, base, PAYLOAD)
    until(browser, lambda d: status_of(d) == "waiting for event")
    assert browser.find_element(By.NAME, "type").get_attribute("value") == "payment.completed"

    browser.execute_script("window.notReloaded = true")
    browser.find_element(By.CSS_SELECTOR, "#send-event button").click()
    until(browser, lambda d: status_of(d) == "completed")
    assert browser.execute_script("return window.notReloaded") is True
    steps = browser.execute_script(
        "return [...document.querySelectorAll('#timeline .step')].map("
        "s => [s.querySelector('.kind').textContent, s.querySelector('.name').textContent])")
    assert steps == [["activity", "reserve_stock"], ["event", "payment.completed"]]
    # The payload is shown as text: the output holds it, and it never ran as a script.
    assert PAYLOAD in browser.find_element(By.ID, "output").get_attribute("textContent")
    assert browser.execute_script("return window.pwned") is None
    assert browser.execute_script("return document.scripts.length") == 1  # ui.js alone
    assert requests.get(f"{base}instances/{iid}", timeout=10).json()["status"] == "completed"

    other = start_from_form(browser, base, "ORD-1042")
    until(browser, lambda d: status_of(d) == "waiting for event")
    SHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOTS / "instance-page.png"))  # for docs/instance-page.png
    browser.find_element(By.ID, "cancel").click()
    until(browser, lambda d: d.switch_to.alert).accept()
    until(browser, lambda d: status_of(d) == "cancelled")
    assert requests.get(f"{base}instances/{other}", timeout=10).json()["status"] == "cancelled"


def test_instances_table_updates_itself_and_fits_a_phone(served: Served, browser: webdriver.Chrome) -> None:
    browser.set_window_size(390, 844)
    browser.get(served.url)
    browser.execute_script("window.notReloaded = true")
    iid = served.project.run("start", "order", "ORD-LIVE").stdout.strip()
    until(browser, lambda d: iid in d.find_element(By.ID, "instances").text)
    assert browser.find_element(By.CSS_SELECTOR, '[data-count="waiting_for_event"]').text == "1"
    assert browser.execute_script("return window.notReloaded") is True
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    browser.find_element(By.NAME, "q").send_keys("ORD-NONE")
    until(browser, lambda d: d.find_element(By.ID, "empty").is_displayed())
    assert iid not in browser.find_element(By.ID, "instances").text


def test_near_misses_appear_on_the_instance_page_without_a_reload(served: Served, browser: webdriver.Chrome) -> None:
    iid = served.project.run("start", "order", "ORD-1").stdout.strip()
    browser.get(f"{served.url}ui/instances/{iid}")
    assert not browser.find_elements(By.ID, "near-misses")
    browser.execute_script("window.notReloaded = true")
    event = {"specversion": "1.0", "type": "payment.completed", "source": "shop", "id": "pay-9",
             "data": {"order_id": "ORD-9"}}
    posted = requests.post(served.url, json=event, headers={"Content-Type": "application/cloudevents+json"},
                           timeout=10)
    assert posted.status_code == 202
    reason = 'data.order_id is "ORD-9", wanted "ORD-1"'
    shown = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#near-misses li"))
    assert shown[0].find_element(By.CLASS_NAME, "reason").text == reason
    assert "pay-9 from shop" in shown[0].text
    assert browser.execute_script("return window.notReloaded") is True
    assert status_of(browser) == "waiting for event"


class OtherSite:
    """Another origin on 127.0.0.1 serving one page: a form that POSTs to `action`."""

    def __init__(self, action: str) -> None:
        page = f'<form method="post" action="{action}"><button id="go">go</button></form>'.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:  # keep the test's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_another_sites_form_cannot_cancel_while_scripts_without_origin_can(served: Served,
                                                                           browser: webdriver.Chrome) -> None:
    iid = served.project.run("start", "order", "ORD-CSRF").stdout.strip()
    other = OtherSite(f"{served.url}cancel/{iid}")
    try:
        browser.get(other.url)
        browser.find_element(By.ID, "go").click()
        until(browser, lambda d: "cross-origin request refused" in d.find_element(By.TAG_NAME, "body").text)
    finally:
        other.close()
    assert requests.get(f"{served.url}instances/{iid}", timeout=10).json()["status"] == "waiting_for_event"
    answer = requests.post(f"{served.url}ui/api/events", json={"type": "payment.completed"}, timeout=10)
    assert answer.status_code == 403  # the page's own actions want this origin, said by the browser
    assert requests.post(f"{served.url}cancel/{iid}", timeout=10).status_code == 200  # no Origin: a script
    assert requests.get(f"{served.url}instances/{iid}", timeout=10).json()["status"] == "cancelled"


def test_workflows_list_is_current_after_a_reload(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n')
    project.write("workflows.py", WORKFLOWS)
    server = start_server(project, "--reload")
    try:
        assert "refund" not in requests.get(server.url + "ui/workflows", timeout=10).text
        project.write("workflows.py", WORKFLOWS + "\n\n@workflow\ndef refund(ctx, order_id: str) -> str:\n    return order_id\n")
        assert server.until(lambda: 'id="wf-refund"' in requests.get(server.url + "ui/workflows", timeout=2).text)
    finally:
        server.stop()


def test_pause_unpause_and_trigger_a_schedule_in_the_browser(served: Served, browser: webdriver.Chrome,
                                                             tmp_path: Path) -> None:
    project = Project(tmp_path)
    created = project.run("schedule", "create", "hourly", "--workflow", "order", "--cron", "0 * * * *",
                          "--input", '{"order_id": "SCHED"}')
    assert created.code == 0, created.stderr
    base = served.url
    browser.get(base + "ui/schedules")
    browser.find_element(By.CSS_SELECTOR, "#schedule-hourly button.pause").click()
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#schedule-hourly button.unpause"))
    assert requests.get(f"{base}schedules/hourly", timeout=10).json()["paused"] is True
    browser.find_element(By.CSS_SELECTOR, "#schedule-hourly button.unpause").click()
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#schedule-hourly button.pause"))
    assert requests.get(f"{base}schedules/hourly", timeout=10).json()["paused"] is False
    browser.find_element(By.CSS_SELECTOR, "#schedule-hourly button.trigger").click()
    until(browser, lambda d: "/ui/instances/hourly%40" in d.current_url or "/ui/instances/hourly@" in d.current_url)
    until(browser, lambda d: status_of(d) == "waiting for event")
    recent = requests.get(f"{base}schedules/hourly", timeout=10).json()["recent"]
    assert len(recent) == 1 and recent[0]["status"] == "waiting_for_event"

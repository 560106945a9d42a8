"""What reaches the routes at all, over real HTTP: the path as UTF-8 text, hostile paths, and
the Host a request names (the DNS rebinding guard)."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Iterator, Optional

import pytest

from ui_support import Page, serve_page

PREFIXES = ["/", "/health/live", "/health/", "/instances/", "/events/", "/cancel/", "/retry/", "/ui/",
            "/ui/instances/", "/ui/static/", "/ui/api/", "/ui/api/workflows/"]
HOSTILE = ["%00", "ui.js%00.css", "a%00b", "..", "../..", "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fsite.py",
           "x" * 8000, "%zz", "%", "%F", "%FF", "%C3%28", "%ED%A0%80", "%C0%AF", "caf%C3%A9", "%E2%80%AE"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    yield from serve_page(tmp_path_factory.mktemp("requests") / "ui.db")


def raw(page: Page, method: str, path: str, headers: Optional[dict[str, str]] = None) -> tuple[int, bytes]:
    """One request with `path` sent exactly as given (no client normalises it)."""
    connection = http.client.HTTPConnection("127.0.0.1", page.server.port, timeout=10)
    try:
        connection.request(method, path, headers={"Accept": "text/html", **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize("prefix", PREFIXES)
def test_no_hostile_path_answers_500_on_any_route(page: Page, prefix: str) -> None:
    answers = {(method, suffix[:20]): raw(page, method, prefix + suffix, page.origin)[0]
               for suffix in HOSTILE for method in ("GET", "POST")}
    assert {key: status for key, status in answers.items() if status >= 500} == {}


def test_a_null_byte_in_a_static_file_name_is_404(page: Page) -> None:
    assert raw(page, "GET", "/ui/static/ui.js%00.css")[0] == 404
    assert raw(page, "GET", "/ui/static/ui.js")[0] == 200


def served(tmp_path: Path, host: str = "127.0.0.1", allowed: tuple[str, ...] = ()) -> Iterator[Page]:
    from romancy_cli import App
    from romancy_cli.serve import Server

    app = App(str(tmp_path / "hosts.db")).initialize()
    server = Server(app, host=host, port=0, allowed_hosts=allowed)
    server.start()
    try:
        yield Page(server)
    finally:
        server.close()
        app.shutdown()


def test_dns_rebinding_is_refused_421_on_every_route_and_cancels_nothing(page: Page) -> None:
    """evil.example re-pointed at 127.0.0.1: its page is same-origin with itself, Host says so."""
    iid = page.app.start("ui_order", "ORD-R", instance_id="rebound")
    port = page.server.port
    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    status, body = raw(page, "POST", f"/cancel/{iid}", evil)
    assert status == 421, body
    assert b'[serve] allowed_hosts = [\\"evil.example\\"]' in body and b"\n" not in body.strip()
    assert page.app.get(iid).status == "waiting_for_event"
    for method, path in [("GET", "/"), ("GET", "/ui/"), ("GET", f"/ui/instances/{iid}"), ("GET", "/instances"),
                         ("GET", f"/instances/{iid}"), ("GET", "/events"), ("GET", "/health/live"),
                         ("GET", "/ui/static/ui.js"), ("POST", "/"), ("POST", f"/retry/{iid}"),
                         ("POST", "/ui/api/events")]:
        assert raw(page, method, path, evil)[0] == 421, (method, path)
    assert raw(page, "GET", "/instances", {"Host": f"EVIL.example.:{port}"})[0] == 421


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost.:{port}", "[::1]:{port}",
                                  "127.0.0.1", "localhost"])
def test_a_server_on_loopback_answers_to_its_loopback_names(page: Page, host: str) -> None:
    assert raw(page, "GET", "/instances", {"Host": host.format(port=page.server.port)})[0] == 200


def test_allowed_hosts_are_answered_and_origin_must_name_the_host_too(tmp_path: Path) -> None:
    for named in served(tmp_path, allowed=("romancy.example",)):
        iid = named.app.start("ui_order", "ORD-A", instance_id="allowed")
        port = named.server.port
        ours = {"Host": f"romancy.example:{port}", "Origin": f"http://romancy.example:{port}"}
        assert raw(named, "GET", "/", ours)[0] == 200
        assert raw(named, "POST", f"/cancel/{iid}", {**ours, "Origin": f"http://evil.example:{port}"})[0] == 403
        assert named.app.get(iid).status == "waiting_for_event"
        assert raw(named, "POST", f"/cancel/{iid}", ours)[0] == 200
        assert named.app.get(iid).status == "cancelled"
        assert raw(named, "GET", "/instances", {"Host": f"other.example:{port}"})[0] == 421


def test_bound_to_every_address_it_answers_to_ip_addresses_and_its_host_name_not_other_names(
        tmp_path: Path) -> None:
    import socket

    for wild in served(tmp_path, host="0.0.0.0"):
        port = wild.server.port
        for host in ("10.1.2.3", "[fe80::1]", "localhost", socket.gethostname()):
            assert raw(wild, "GET", "/instances", {"Host": f"{host}:{port}"})[0] == 200, host
        assert raw(wild, "GET", "/instances", {"Host": f"evil.example:{port}"})[0] == 421


def test_a_server_on_one_address_does_not_answer_to_loopback_addresses(tmp_path: Path) -> None:
    """Bound to another address than loopback, 127.0.0.1 is no name of it (localhost always is)."""
    from romancy_cli.http.gate import AllowedHosts

    hosts = AllowedHosts("192.0.2.7", ["romancy.example"])
    assert [hosts.allows(h) for h in ("192.0.2.7:8001", "romancy.example", "localhost:1", "127.0.0.1:8001",
                                      "10.0.0.1", "evil.example")] == [True, True, True, False, False, False]


def test_every_route_reaches_an_id_with_non_ascii_characters(page: Page) -> None:
    """WSGI hands the path over as latin-1: café arrived as cafÃ© (404) before it was decoded."""
    waiting = page.app.start("ui_order", "ORD-C", instance_id="café")
    failed = page.app.start("ui_fail", "no", instance_id="échec-ü")
    assert page.get("/instances/caf%C3%A9", html=False).json()["instance_id"] == "café"
    listed = page.get("/").text
    assert 'href="/ui/instances/caf%C3%A9"' in listed  # the page's own link to it...
    shown = page.get("/ui/instances/caf%C3%A9")  # ...which it answers
    assert shown.status_code == 200 and "café" in shown.text
    assert page.act("/retry/%C3%A9chec-%C3%BC").status_code == 200
    assert page.app.get(failed).status == "failed"  # retried, and failed again (ui_fail always does)
    cancelled = page.act("/cancel/caf%C3%A9")
    assert cancelled.status_code == 200 and cancelled.json()["instance_id"] == "café"
    assert page.app.get(waiting).status == "cancelled"


def test_a_path_that_is_not_utf_8_is_400(page: Page) -> None:
    status, body = raw(page, "GET", "/instances/caf%E9", {"Accept": "application/json"})
    assert status == 400 and b"not valid UTF-8" in body


@pytest.mark.parametrize("bad", ["a/b", "two words", "tab\there", "pay\u202egpj", "nul\x00", "c1\x85",
                                 "line\u2028sep", "nb\u00a0sp", "zero\u200bwidth"])
def test_an_id_no_route_or_terminal_could_show_is_refused_when_created(page: Page, bad: str) -> None:
    from romancy_cli.errors import UsageError

    with pytest.raises(UsageError, match=r"an id may hold letters, digits, marks, punctuation and symbols"):
        page.app.start("ui_order", "ORD-X", instance_id=bad)
    started = page.act("/ui/api/workflows/ui_order/start", {"instance_id": bad, "arguments": {"order_id": "X"}})
    assert started.status_code == 400 and "an id may hold" in started.json()["error"]
    assert page.get("/instances?q=ORD-X", html=False).json()["instances"] == []


def test_instances_stored_with_such_ids_before_are_still_listed(tmp_path: Path) -> None:
    import sqlite3

    for old in served(tmp_path):
        iid = old.app.start("ui_order", "ORD-OLD", instance_id="legacy")
        with sqlite3.connect(tmp_path / "hosts.db") as conn:
            for table in ("romancy_instances", "romancy_steps"):
                conn.execute(f"UPDATE {table} SET instance_id = 'old/one two' WHERE instance_id = ?", (iid,))
        listed = old.get("/instances", html=False).json()["instances"]
        assert [i["instance_id"] for i in listed] == ["old/one two"]
        assert "old/one two" in old.get("/").text

"""`serve` over real HTTP: a waitress server on 127.0.0.1 and a real client."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from romancy_cli import App

from ce_sdk import encode
from serve_support import GATE, QUEUED, REACHED, REGISTRY, SIDE_EFFECTS, Running, run_server, wait_for

CONFORMANCE = Path(__file__).parent / "conformance" / "cloudevents"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path / "serve.db")


def _cases(name: str) -> list[Any]:
    tests = json.loads((CONFORMANCE / name).read_text())["tests"]
    return [pytest.param(case["event"], id=case["id"]) for case in tests]


def paid(order_id: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "type": "order.paid", "source": "shop", "id": event_id,
            "data": {"order_id": order_id, "amount": 10}, **extra}


def post(server: Running, body: Any, headers: dict[str, str] = STRUCTURED, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.url, data=data, headers=headers, timeout=10, **kwargs)


@pytest.mark.parametrize("event", _cases("valid-events.json"))
def test_conformance_valid_event_accepted_and_stored(server: Running, event: Any) -> None:
    response = post(server, event)
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    assert server.rows("events") == 1


@pytest.mark.parametrize("event", _cases("invalid-events.json"))
def test_conformance_invalid_event_rejected_nothing_stored(server: Running, event: Any) -> None:
    response = post(server, event)
    assert response.status_code == 400
    body = response.json()
    assert body["retryable"] is False and body["error_type"] == "InvalidEvent" and body["error"]
    assert server.rows("events") == 0


def test_event_over_http_resumes_instance_without_tick(server: Running) -> None:
    instance_id = server.app.start("serve_order", "ORD-H1")
    assert post(server, paid("ORD-H1", "h1")).status_code == 202
    assert server.wait_for(lambda: server.app.get(instance_id).status == "completed")
    assert server.app.get(instance_id).output == {"order_id": "ORD-H1", "amount": 10}


def test_binary_and_structured_modes_from_sdk_encoder(server: Running) -> None:
    ids = [server.app.start("serve_order", f"ORD-B{i}") for i in range(2)]
    for i, mode in enumerate(("binary", "structured")):
        attributes = {"type": "order.paid", "source": "sdk", "id": f"sdk-{i}", "datacontenttype": "application/json"}
        headers, body = encode(mode, attributes, {"order_id": f"ORD-B{i}", "amount": 5})
        assert requests.post(server.url, data=body, headers=headers, timeout=10).status_code == 202
    assert server.wait_for(lambda: all(server.app.get(i).status == "completed" for i in ids))
    assert [server.app.get(i).output["amount"] for i in ids] == [5, 5]


def test_sdk_binary_mode_without_content_type_gives_json_data_to_match(server: Running) -> None:
    """The SDKs' to_binary leaves Content-Type out for JSON data: the body is JSON, so match= fires."""
    instance_id = server.app.start("serve_order", "ORD-NOCT")
    headers, body = encode("binary", {"type": "order.paid", "source": "sdk", "id": "noct-1"},
                           {"order_id": "ORD-NOCT", "amount": 7})
    assert not any(name.lower() == "content-type" for name in headers)
    assert requests.post(server.url, data=body, headers=headers, timeout=10).status_code == 202
    assert server.wait_for(lambda: server.app.get(instance_id).status == "completed")
    assert server.app.get(instance_id).output == {"order_id": "ORD-NOCT", "amount": 7}


@pytest.mark.parametrize("body, data", [(b"hello", "hello"), (b"\xff\x00", "/wA=")])
def test_binary_mode_without_content_type_text_else_base64(server: Running, body: bytes, data: str) -> None:
    instance_id = server.app.start("serve_note")
    headers = {"ce-specversion": "1.0", "ce-id": "nc", "ce-source": "shop", "ce-type": "note"}
    assert requests.post(server.url, data=body, headers=headers, timeout=10).status_code == 202
    assert server.wait_for(lambda: server.app.get(instance_id).status == "completed")
    assert server.app.get(instance_id).output == {"subject": None, "data": data}


def test_form_encoded_binary_event_is_kept_and_warned_about(server: Running, caplog: Any) -> None:
    """What `curl -d` without -H sends: stored as given, with a warning naming the event and the fix."""
    headers = {"ce-specversion": "1.0", "ce-id": "curl-1", "ce-source": "shop", "ce-type": "order.paid",
               "Content-Type": "application/x-www-form-urlencoded"}
    with caplog.at_level("WARNING", logger="romancy.http"):
        response = requests.post(server.url, data=b'{"order_id": "X"}', headers=headers, timeout=10)
    assert response.status_code == 202
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "order.paid curl-1 from shop" in warning
    assert "-H 'Content-Type: application/json'" in warning
    with sqlite3.connect(server.db_path) as conn:
        [(content_type,)] = conn.execute("SELECT data_content_type FROM romancy_events").fetchall()
    assert content_type == "application/x-www-form-urlencoded"


def test_binary_mode_percent_decoded_header_reaches_the_workflow(server: Running) -> None:
    instance_id = server.app.start("serve_note")
    headers = {"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "shop", "ce-type": "note",
               "ce-subject": "caf%C3%A9", "Content-Type": "text/plain"}
    assert requests.post(server.url, data=b"hello", headers=headers, timeout=10).status_code == 202
    assert server.wait_for(lambda: server.app.get(instance_id).status == "completed")
    assert server.app.get(instance_id).output == {"subject": "café", "data": "hello"}


def test_batch_is_all_or_nothing(server: Running) -> None:
    batch_headers = {"Content-Type": "application/cloudevents-batch+json"}
    good = [paid("A", "b-1"), paid("B", "b-2")]
    assert post(server, good, batch_headers).status_code == 202
    assert server.rows("events") == 2
    bad = [paid("C", "b-3"), {"specversion": "1.0", "id": "x"}]
    response = post(server, bad, batch_headers)
    assert response.status_code == 400 and "event 1" in response.json()["error"]
    assert server.rows("events") == 2


def test_a_lone_surrogate_in_a_batch_is_400_naming_the_event_and_stores_nothing(server: Running) -> None:
    batch = [paid("S", "s-1"), paid("S", "s-2", data={"order_id": "\ud800"})]
    response = post(server, batch, {"Content-Type": "application/cloudevents-batch+json"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["retryable"] is False and body["error_type"] == "InvalidEvent"
    assert body["error"].startswith("body: $[1].data.order_id: U+D800 is a lone surrogate, not valid Unicode")
    assert server.rows("events") == 0


@pytest.mark.parametrize("data, where", [("\udfff", "$.data"), ({"\ud83d": 1}, "$.data")])
def test_a_structured_event_with_a_lone_surrogate_is_400_not_retryable(server: Running, data: Any, where: str) -> None:
    response = post(server, paid("S", "s-3", data=data))
    assert response.status_code == 400, response.text
    assert response.json()["retryable"] is False and response.json()["error"].startswith(f"body: {where}: ")
    assert server.rows("events") == 0


def test_separators_inside_json_strings_are_accepted_over_http(server: Running) -> None:
    note = "a\u2028b\x85c\U0001F600"
    body = json.dumps(paid("S", "s-4", data={"note": note}), ensure_ascii=False).encode()
    assert post(server, body).status_code == 202
    [logged] = server.app.list_events()
    assert logged.event.data == {"note": note}


def test_duplicate_event_over_http_applied_once(server: Running) -> None:
    SIDE_EFFECTS.clear()
    instance_id = server.app.start("serve_order", "ORD-D")
    for _ in range(3):
        assert post(server, paid("ORD-D", "same-id")).status_code == 202
    assert server.wait_for(lambda: server.app.get(instance_id).status == "completed")
    assert server.rows("events") == 1 and SIDE_EFFECTS.count("ORD-D") == 1


def test_body_over_limit_gets_413(tmp_path: Path) -> None:
    for running in run_server(tmp_path / "small.db", max_body=2048):
        event = paid("X", "big")
        event["data"]["pad"] = "x" * 4096
        response = post(running, event)
        assert response.status_code == 413 and response.json()["retryable"] is False
        assert running.rows("events") == 0


def test_unsupported_content_type_gets_415(server: Running) -> None:
    response = post(server, b"{}", {"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["error_type"] == "UnsupportedMediaType"
    assert server.rows("events") == 0


def test_token_required_when_set(tmp_path: Path) -> None:
    for running in run_server(tmp_path / "token.db", token="s3cret"):
        assert post(running, paid("T", "t1")).status_code == 401
        assert post(running, paid("T", "t2"), {**STRUCTURED, "Authorization": "Bearer wrong"}).status_code == 401
        assert running.rows("events") == 0
        assert post(running, paid("T", "t3"), {**STRUCTURED, "Authorization": "Bearer s3cret"}).status_code == 202


def test_bearer_scheme_is_case_insensitive(tmp_path: Path) -> None:
    """RFC 9110 11.1: the authentication scheme is matched case-insensitively; the token is not."""
    for running in run_server(tmp_path / "scheme.db", token="s3cret"):
        for i, given in enumerate(("bearer s3cret", "BEARER s3cret", "Bearer   s3cret")):
            response = post(running, paid("T", f"s{i}"), {**STRUCTURED, "Authorization": given})
            assert response.status_code == 202, given
        for given in ("bearer S3CRET", "Basic s3cret", "Bearers3cret", "bearer"):
            assert post(running, paid("T", "x"), {**STRUCTURED, "Authorization": given}).status_code == 401
        assert running.rows("events") == 3


JSON_HINT = "NaN/Infinity is not allowed in JSON; use a finite number, null or a string"
NON_FINITE_BODIES = [
    (STRUCTURED, b'{"specversion": "1.0", "type": "t", "source": "s", "id": "1", "data": {"x": NaN}}',
     f"body: $.data.x: {JSON_HINT}"),
    (STRUCTURED, b'{"specversion": "1.0", "type": "t", "source": "s", "id": "1", "data": [1e999]}',
     f"body: $.data[0]: {JSON_HINT}"),
    ({"Content-Type": "application/cloudevents-batch+json"},
     b'[{"specversion": "1.0", "type": "t", "source": "s", "id": "1", "data": {"ok": 1}},'
     b' {"specversion": "1.0", "type": "t", "source": "s", "id": "2", "data": {"x": -Infinity}}]',
     f"body: $[1].data.x: {JSON_HINT}"),
    ({"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "1", "ce-source": "s",
      "ce-type": "t"}, b'{"x": {"y": Infinity}}', f"data: $.x.y: {JSON_HINT}"),
    (STRUCTURED, b'{"specversion": "1.0", "type": "t", "source": "s", "id": "1", "data": '
     + b"[" * 64 + b"]" * 64 + b"}", "body: JSON nested deeper than 64 levels; flatten the data"),
    ({"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "1", "ce-source": "s",
      "ce-type": "t"}, b"[" * 100_000, "data: JSON nested deeper than 64 levels; flatten the data"),
]


@pytest.mark.parametrize("headers, body, message", NON_FINITE_BODIES,
                         ids=["structured-nan", "structured-overflow", "batch", "binary", "deep", "binary-deep"])
def test_nan_infinity_or_deep_json_gets_400_naming_the_field(server: Running, headers: dict[str, str],
                                                             body: bytes, message: str) -> None:
    response = post(server, body, headers)
    assert response.status_code == 400
    assert response.json() == {"error": message, "error_type": "InvalidEvent", "retryable": False}
    assert server.rows("events") == 0


def test_instance_with_nan_or_out_of_range_time_stored_is_strict_json(server: Running) -> None:
    """What another program wrote is still served: NaN as null, a time past 9999 as epoch seconds."""
    instance_id = server.app.start("serve_order", "ORD-NAN")
    with sqlite3.connect(server.db_path) as conn:
        conn.execute("UPDATE romancy_instances SET updated_at = 3e11, wake_at = ?, args = '[NaN]' "
                     "WHERE instance_id = ?", (float("inf"), instance_id))
    response = requests.get(f"{server.url}instances/{instance_id}", timeout=10)
    assert response.status_code == 200
    body = json.loads(response.text, parse_constant=pytest.fail)
    assert body["updated_at"] == 3e11 and body["input"]["args"] == [None]


def test_wrong_method_gets_405_and_unknown_path_404(server: Running) -> None:
    response = requests.delete(server.url, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "POST, GET"
    assert requests.get(server.url + "nowhere", timeout=10).status_code == 404


def test_server_fault_gets_500_retryable(tmp_path: Path) -> None:
    # An App whose database was never opened: a fault of the server, not of the client.
    for running in run_server(tmp_path / "fault.db", app=_closed_app(tmp_path)):
        response = post(running, paid("F", "f1"))
        assert response.status_code == 500 and response.json()["retryable"] is True
        assert requests.get(running.url + "health/ready", timeout=10).status_code == 503
        assert requests.get(running.url + "health/live", timeout=10).status_code == 200


def _closed_app(tmp_path: Path) -> App:
    app = App(str(tmp_path / "fault.db"), registry=REGISTRY).initialize()
    app.shutdown()
    return app


def test_a_run_that_ended_is_written_before_its_instance_is_read(server: Running) -> None:
    """The outcome of a run resumed by an event waits for the next event's transaction while
    requests are queued; a read of the instance over HTTP writes it first."""
    instance_id = server.app.start("serve_queued")
    dispatcher = server.server._http.task_dispatcher
    QUEUED[:] = [lambda: bool(dispatcher.queue)]  # the activity ends once the GET below is queued
    REACHED.clear()
    go = {"specversion": "1.0", "type": "queued.go", "source": "tests", "id": "q1",
          "romancyinstanceid": instance_id}
    assert post(server, go).status_code == 202
    assert REACHED.wait(10)
    response = requests.get(server.url + f"instances/{instance_id}", timeout=20)
    assert (response.json()["status"], response.json()["output"]) == ("completed", "done")


def test_a_run_that_goes_to_sleep_is_written_before_the_timer_loop_looks(server: Running) -> None:
    """Its outcome does not wait for the next event, even with a request queued (here a probe,
    which writes nothing): the timer loop, woken for it, must find its due time."""
    instance_id = server.app.start("serve_queued_then_sleep")
    dispatcher = server.server._http.task_dispatcher
    QUEUED[:] = [lambda: bool(dispatcher.queue)]
    REACHED.clear()
    go = {"specversion": "1.0", "type": "queued.go", "source": "tests", "id": "q2",
          "romancyinstanceid": instance_id}
    assert post(server, go).status_code == 202
    assert REACHED.wait(10)
    assert requests.get(server.url + "health/live", timeout=20).status_code == 200  # queued meanwhile
    with sqlite3.connect(server.db_path) as conn:
        status, wake_at = conn.execute("SELECT status, wake_at FROM romancy_instances WHERE instance_id = ?",
                                       (instance_id,)).fetchone()
    assert status == "waiting_for_timer" and wake_at is not None


def test_health_endpoints(server: Running) -> None:
    assert requests.get(server.url + "health/live", timeout=10).json() == {"status": "ok"}
    ready = requests.get(server.url + "health/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["database"] == "reachable"


def test_timer_fired_by_loop_without_tick(server: Running) -> None:
    instance_id = server.app.start("serve_nap", 0.2)
    assert server.app.get(instance_id).status == "waiting_for_timer"
    assert server.wait_for(lambda: server.app.get(instance_id).status == "completed")
    assert server.app.get(instance_id).output == "rested"


def test_load_2000_events_8_clients_none_lost(server: Running) -> None:
    SIDE_EFFECTS.clear()
    count = 2000
    ids = [server.app.start("serve_order", f"L{i}") for i in range(count)]

    def send(indices: range) -> list[int]:
        with requests.Session() as session:
            return [session.post(server.url, data=json.dumps(paid(f"L{i}", f"l-{i}")), headers=STRUCTURED,
                                 timeout=30).status_code for i in indices]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for chunk in pool.map(send, [range(k, count, 8) for k in range(8)]) for s in chunk]
    assert statuses.count(202) == count
    done = lambda: server.app.list_instances(status="completed", workflow="serve_order", limit=None)  # noqa: E731
    assert server.wait_for(lambda: len(done()) == count, limit=120)
    assert server.rows("events") == count
    assert sorted(SIDE_EFFECTS) == sorted(f"L{i}" for i in range(count))
    assert {server.app.get(i).status for i in ids} == {"completed"}


def test_wsgi_app_mounts_in_any_wsgi_server(tmp_path: Path) -> None:
    import threading

    from waitress.server import create_server

    from romancy_cli.http import wsgi_app

    with App(str(tmp_path / "mounted.db"), registry=REGISTRY) as app:
        server = create_server(wsgi_app(app), host="127.0.0.1", port=0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            instance_id = app.start("serve_order", "ORD-W")
            url = f"http://127.0.0.1:{server.effective_port}/"
            response = requests.post(url, data=json.dumps(paid("ORD-W", "w1")), headers=STRUCTURED, timeout=10)
            assert response.status_code == 202
            assert wait_for(lambda: app.get(instance_id).status == "completed")
            assert requests.get(url + f"instances/{instance_id}", timeout=10).json()["status"] == "completed"
        finally:
            server.close()


def _waitress_threads(server: Running) -> int:
    """Threads of this server's waitress pool, less those told to stop."""
    dispatcher = server.server._http.task_dispatcher
    return len(dispatcher.threads) - dispatcher.stop_count


def test_slow_activity_does_not_hold_up_other_requests(server: Running) -> None:
    """One thread serves while requests are quick; a request still busy after GROW_AFTER (here
    an activity run after its 202) gets a thread to stand in for it, and the pool shrinks back."""
    GATE.clear()
    gated = server.app.start("serve_gated")
    quick = server.app.start("serve_order", "ORD-Q")
    try:
        assert _waitress_threads(server) == 1
        gate = {"specversion": "1.0", "type": "gate.open", "source": "t", "id": "g1", "romancyinstanceid": gated}
        assert post(server, gate).status_code == 202
        assert server.wait_for(lambda: server.app.get(gated).status == "running")
        assert requests.get(server.url + "health/live", timeout=10).status_code == 200
        assert post(server, paid("ORD-Q", "q1")).status_code == 202
        assert server.wait_for(lambda: server.app.get(quick).status == "completed")
        assert server.app.get(gated).status == "running"
        assert _waitress_threads(server) == 2
    finally:
        GATE.set()
    assert server.wait_for(lambda: server.app.get(gated).status == "completed")
    assert server.app.get(gated).output is True
    assert server.wait_for(lambda: _waitress_threads(server) == 1)


def test_commits_elsewhere_wake_the_timer_loop_at_most_every_wake_slice(tmp_path: Path) -> None:
    """Another connection committing non-stop (here another App starting instances) is a hint for
    the timer loop, not a reason to tick back to back; a timer it writes still fires."""
    import time

    from romancy_cli.serve import WAKE_SLICE, Server

    class CountingServer(Server):
        ticks = 0

        def tick_once(self) -> Any:
            CountingServer.ticks += 1
            return super().tick_once()

    db_path = tmp_path / "busy.db"
    app = App(str(db_path), registry=REGISTRY).initialize()
    server = CountingServer(app, host="127.0.0.1", port=0)
    server.start()
    try:
        with App(str(db_path), registry=REGISTRY) as other:
            time.sleep(0.2)  # the loop's first ticks, at start-up
            before, began = CountingServer.ticks, time.monotonic()
            starts = 0
            while time.monotonic() - began < 1.0:
                other.start("serve_order", f"B{starts}")
                starts += 1
            ticks, seconds = CountingServer.ticks - before, time.monotonic() - began
            napper = other.start("serve_nap", 0.1)
        assert starts > 50, starts
        assert ticks <= seconds / WAKE_SLICE + 2, (ticks, seconds)
        assert wait_for(lambda: app.get(napper).status == "completed")
    finally:
        server.close()
        app.shutdown()

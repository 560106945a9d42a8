"""The outward relay of "Workflows that talk": events workflows publish with a target reach a real
receiver on 127.0.0.1 as CloudEvents over HTTP, retried with growing backoff, failed after
max_attempts, requeued by `romancy outbox retry`. Through the `romancy` executable, and in this
process through App and relay.Relay for timing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from cli_helpers import Project
from relay_support import Receiver, closed_port, outbox_toml, wait_until
from romancy_cli import App, Registry, send_event, workflow
from romancy_cli.config import OutboxSettings
from romancy_cli.relay import Relay

WORKFLOWS = '''
from romancy_cli import send_event, workflow


@workflow("pub")
def pub(ctx, n: int) -> str:
    return send_event(ctx, "thing.done", {"n": n}, subject=f"n-{n}")


@workflow("pub_to")
def pub_to(ctx, url: str) -> str:
    return send_event(ctx, "thing.direct", {"k": 1}, to=url)
'''
KEYS = {"event_id", "type", "source", "target", "status", "attempts", "last_error", "next_attempt_at"}

registry = Registry()


@workflow("relay_pub", registry=registry)
def relay_pub(ctx, n: int) -> str:
    return send_event(ctx, "thing.done", {"n": n})


def _project(tmp_path: Path, outbox: str = "") -> Project:
    project = Project(tmp_path)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n' + outbox)
    project.write("workflows.py", WORKFLOWS)
    return project


def _outbox(project: Project, *args: str) -> list[dict]:
    listed = project.run("outbox", "--json", *args)
    assert listed.code == 0, listed.stderr
    return listed.json


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(script=(500,))
    yield found
    found.close()


def test_a_500_is_retried_and_the_event_is_sent_once_the_receiver_takes_it(tmp_path: Path, receiver: Receiver) -> None:
    project = _project(tmp_path, outbox_toml(receiver.url, first_retry=0.2, max_backoff=1))
    assert project.run("start", "pub", "1").code == 0
    [queued] = _outbox(project)
    assert set(queued) == KEYS and (queued["status"], queued["attempts"], queued["target"]) == ("pending", 0, receiver.url)
    assert project.run("tick").code == 0
    [first] = _outbox(project)
    assert (first["status"], first["attempts"], first["last_error"]) == ("pending", 1, "HTTP 500")
    assert wait_until(lambda: project.run("tick").code == 0 and _outbox(project)[0]["status"] == "sent", limit=15)
    [sent] = _outbox(project, "--status", "sent")
    assert (sent["attempts"], sent["last_error"], sent["next_attempt_at"]) == (2, None, None)
    project.run("tick")
    assert len(receiver.received) == 2  # nothing sent after the 202
    one, two = receiver.received
    assert (one.source, one.id) == (two.source, two.id) == ("romancy/pub", queued["event_id"])
    assert two.at - one.at >= 0.1  # the first retry waited (0.2 s with up to half taken off)
    assert (two.headers["ce-type"], two.headers["ce-subject"], json.loads(two.body)) == ("thing.done", "n-1", {"n": 1})
    assert one.headers["ce-time"] == two.headers["ce-time"]  # the same event each attempt


def test_a_400_fails_at_once_and_is_not_retried(tmp_path: Path) -> None:
    receiver = Receiver(then=400)
    try:
        project = _project(tmp_path, outbox_toml(receiver.url, mode="structured", first_retry=0.1, max_backoff=0.1))
        event_id = project.run("start", "pub", "2").stdout.strip() + ":0"
        project.run("tick")
        assert wait_until(lambda: project.run("tick").code == 0 and len(receiver.received) >= 1, limit=2)
        [failed] = _outbox(project, "--status", "failed")
        assert (failed["event_id"], failed["attempts"], failed["last_error"]) == (event_id, 1, "HTTP 400")
        assert _outbox(project, "--status", "pending") == []
        [only] = receiver.received
        assert only.headers["content-type"] == "application/cloudevents+json"
        assert json.loads(only.body)["id"] == event_id and json.loads(only.body)["data"] == {"n": 2}
    finally:
        receiver.close()


def test_only_events_published_with_a_target_are_relayed(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        project = _project(tmp_path)  # no [outbox] url: only send_event(..., to=...) is relayed
        assert project.run("start", "pub", "3").code == 0
        assert project.run("send-event", "thing.done", "--data", '{"n": 4}').code == 0  # received, not published
        assert _outbox(project) == []
        direct = project.run("start", "pub_to", receiver.url)
        assert direct.code == 0, direct.stderr
        project.run("tick")
        [sent] = _outbox(project)
        assert (sent["type"], sent["target"], sent["status"]) == ("thing.direct", receiver.url, "sent")
        assert receiver.ids() == [sent["event_id"]]
        bad = project.run("start", "pub_to", "ftp://nowhere")
        assert bad.code == 1 and "`to` must be an http:// or https:// URL" in bad.stderr
    finally:
        receiver.close()


@pytest.mark.parametrize("outbox, named", [
    (outbox_toml("ftp://x"), "outbox.url"),
    (outbox_toml("http://127.0.0.1:9/", mode="json"), "outbox.mode"),
    (outbox_toml("http://127.0.0.1:9/", max_attempts=0), "outbox.max_attempts"),
    (outbox_toml("http://127.0.0.1:9/", first_retry=5, max_backoff=1), "outbox.max_backoff"),
    (outbox_toml("http://127.0.0.1:9/", retries=3), "outbox.retries"),
])
def test_bad_outbox_settings_are_one_line_exit_2_and_touch_nothing(tmp_path: Path, outbox: str, named: str) -> None:
    project = _project(tmp_path, outbox)
    for args in (("start", "pub", "1"), ("outbox",), ("tick",)):
        result = project.run(*args)
        assert result.code == 2 and named in result.error_line, result.stderr
    assert not project.db.exists()


def test_outbox_arguments_and_unknown_ids(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert project.run("outbox", "--status", "done").code == 2
    assert project.run("outbox", "resend", "x").code == 2
    assert project.run("outbox", "retry", "nope").code == 3
    assert not project.db.exists()


def test_a_receiver_that_is_down_gets_growing_backoff_then_failed_then_retry_sends(tmp_path: Path) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/events"
    settings = OutboxSettings(url=url, first_retry=0.2, max_backoff=1.0, max_attempts=4, timeout=1.0)
    stop = threading.Event()
    with App(database=str(tmp_path / "romancy.db"), registry=registry, outbox_url=url) as app:
        event_id = app.start("relay_pub", 1) + ":0"
        relay = threading.Thread(target=Relay(app, settings).run, args=(stop,), daemon=True)
        seen: dict[int, float] = {}  # attempts -> when that count was first seen
        relay.start()
        try:
            def failed() -> bool:
                [item] = app.list_outbox()
                seen.setdefault(item.attempts, time.monotonic())
                return item.status == "failed"

            assert wait_until(failed, limit=15, every=0.005)
            [item] = app.list_outbox()
            assert (item.attempts, item.last_error) == (4, "connection error: connection refused")
            gaps = [seen[n + 1] - seen[n] for n in (1, 2, 3)]
            assert gaps[0] < gaps[2] and gaps[2] >= 0.3, gaps  # 0.1-0.2 s, 0.2-0.4 s, 0.4-0.8 s
            project = _project(tmp_path)
            assert project.run("outbox", "retry", "nope").code == 3
            receiver = Receiver(port=port)
            try:
                requeued = project.run("outbox", "retry", event_id)
                assert requeued.code == 0, requeued.stderr
                assert wait_until(lambda: app.list_outbox()[0].status == "sent", limit=10)
                assert receiver.ids() == [event_id]
                again = project.run("outbox", "retry", event_id)
                assert again.code == 1 and "not failed" in again.error_line
            finally:
                receiver.close()
        finally:
            stop.set()
            relay.join(timeout=5)

"""The outbox relay with several workers and crashes: two relays on one PostgreSQL outbox never
send one event at once, and a sender `romancy serve` SIGKILLed while it relays loses nothing: a
second `romancy serve` receiving its events applies each exactly once."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

from cli_helpers import Project
from multiworker_support import Server
from relay_support import Receiver, outbox_toml, wait_until
from romancy_cli import App, Registry, send_event, workflow
from romancy_cli.config import OutboxSettings
from romancy_cli.relay import Relay

registry = Registry()
EVENTS = 40


@workflow("relay_burst", registry=registry)
def relay_burst(ctx, count: int) -> int:
    for n in range(count):
        send_event(ctx, "thing.done", {"n": n})
    return count


def test_two_relays_on_postgres_send_each_event_once_per_attempt_never_in_parallel(pg_url: str) -> None:
    receiver = Receiver(script=(503,) * 10, delay=0.01)  # ten retried attempts, then all accepted
    settings = OutboxSettings(url=receiver.url, first_retry=0.05, max_backoff=0.1, timeout=2.0)
    stop = threading.Event()
    apps = [App(database=pg_url, worker_id=f"relay-{n}", registry=registry, outbox_url=receiver.url).initialize()
            for n in range(2)]
    try:
        apps[0].start("relay_burst", EVENTS)
        threads = [threading.Thread(target=Relay(app, settings).run, args=(stop,), daemon=True) for app in apps]
        for thread in threads:
            thread.start()
        assert wait_until(lambda: len(apps[0].list_outbox("sent")) == EVENTS, limit=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        items = apps[1].list_outbox()
        per_event = Counter(receiver.ids())
        assert receiver.overlaps == 0
        assert {item.event.id: item.attempts for item in items} == dict(per_event)
        assert sum(per_event.values()) == EVENTS + 10
    finally:
        stop.set()
        for app in apps:
            app.shutdown()
        receiver.close()


SENDER = '''
from romancy_cli import send_event, workflow


@workflow("burst")
def burst(ctx, count: int) -> int:
    for n in range(count):
        send_event(ctx, "thing.done", {"n": n}, source="sender")
    return count
'''

TALLY = '''
from romancy_cli import workflow


@workflow("tally", start_on="thing.done")
def tally(ctx, n: int) -> int:
    return n
'''


def _project(root: Path, config: str, workflows: str) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n' + config)
    project.write("workflows.py", workflows)
    return project


def test_a_sender_killed_while_it_relays_loses_nothing_and_the_receiver_applies_each_once(tmp_path: Path) -> None:
    receiving = _project(tmp_path / "receiver", "", TALLY)
    target = Server(receiving, "target")
    target.wait_live()
    # Short leases: the killed sender's claimed entries are taken over by its restart within 2 s.
    sending = _project(tmp_path / "sender", "lease_seconds = 2\n" + outbox_toml(
        target.url, timeout=1, first_retry=0.1, max_backoff=0.5), SENDER)
    try:
        assert sending.run("start", "burst", str(EVENTS)).code == 0
        rng = random.Random(7)
        for round_ in range(3):
            sender = Server(sending, f"sender{round_}")
            sender.wait_live()
            time.sleep(rng.uniform(0.0, 0.3))
            sender.kill()
        sender = Server(sending, "sender-last")
        try:
            sender.wait_live()
            assert wait_until(lambda: _all_sent(sending), limit=30), sending.run("outbox").stdout
        finally:
            sender.stop()
        assert wait_until(lambda: _tallied(receiving) == list(range(EVENTS)), limit=15)  # each applied once
        assert len(receiving.run("events", "--json").json) == EVENTS
    finally:
        target.stop()


def _tallied(project: Project) -> list:
    listed = project.run("status", "--workflow", "tally", "--json").json
    return sorted(i["output"] for i in listed if i["status"] == "completed") if len(listed) == EVENTS else []


def _all_sent(project: Project) -> bool:
    listed = project.run("outbox", "--json").json
    return len(listed) == EVENTS and all(item["status"] == "sent" for item in listed)

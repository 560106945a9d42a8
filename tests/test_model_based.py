"""A model-based test of App (issue 21): Hypothesis drives random sequences of starts, events
(broadcast, targeted, duplicate, start_on, deliver-or-start, HTTP batches with a bad line),
ticks, prunes, cancels, retries, continue-as-new, compensation and crashes against a real
SQLite file and a real PostgreSQL database, and after every step compares the database with a
plain in-memory model of what each instance must have taken and what status it must have.

ROMANCY_MODEL_EXAMPLES and ROMANCY_MODEL_STEPS run it longer; on a failure Hypothesis prints the
shortest sequence of steps that shows it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from waitress.server import create_server

import pgserver
from romancy_cli import (App, EventTimeout, ManualClock, Registry, RetryPolicy, RomancyError,
                         UsageError, activity, continue_as_new, sleep, wait_event, workflow)
from romancy_cli.http.wsgi import WsgiApp
from romancy_cli.ids import event_instance_id
from romancy_cli.records import (CANCELLED, COMPENSATING, COMPLETED, CONTINUED_AS_NEW, FAILED, RUNNING,
                                 TERMINAL, WAITING_FOR_EVENT, WAITING_FOR_TIMER)
from romancy_cli.testing import advance

registry = Registry()
EXAMPLES = int(os.environ.get("ROMANCY_MODEL_EXAMPLES", "20"))
STEPS = int(os.environ.get("ROMANCY_MODEL_STEPS", "25"))
LEASE = 30.0
START = 1_700_000_000.0
BROKEN: set[str] = set()  # keys whose `flaky` activity fails (healed before a retry)
CRASHING: set[str] = set()  # keys whose `crashy` activity crashes the process once


class Crash(BaseException):
    """The process dies in the middle of an activity: nothing after the last commit is written."""


# -- the workflows: one interpreter of plans, several workflow types ------------------------

@activity("mb_note", registry=registry)
def note(ctx, name: str) -> str:
    return name


@activity("mb_unbook", registry=registry)
def unbook(ctx, booked: str, name: str) -> None:
    return None


@activity("mb_book", registry=registry, compensate=unbook)
def book(ctx, name: str) -> str:
    return name


@activity("mb_flaky", registry=registry, retry=RetryPolicy(max_attempts=1))
def flaky(ctx, key: str) -> str:
    if key in BROKEN:
        raise ConnectionError(f"{key} is broken")
    return key


@activity("mb_crashy", registry=registry)
def crashy(ctx, key: str) -> str:
    if key in CRASHING:
        CRASHING.discard(key)
        raise Crash(key)
    return key


def interpret(ctx, plan: list) -> str:
    """Run a plan: ["act"|"book"|"flaky"|"crash", name], ["sleep", s], ["wait", types, match,
    timeout], ["raise"], ["again", plan] (continue_as_new)."""
    for op in plan:
        kind = op[0]
        if kind in ("act", "book", "flaky", "crash"):
            {"act": note, "book": book, "flaky": flaky, "crash": crashy}[kind].execute(ctx, op[1])
        elif kind == "sleep":
            sleep(ctx, op[1])
        elif kind == "wait":
            types = op[1] if len(op[1]) > 1 else op[1][0]
            try:
                wait_event(ctx, types, match=op[2], timeout=op[3])
            except EventTimeout:
                pass
        elif kind == "raise":
            raise ValueError("the plan fails here")
        elif kind == "again":
            continue_as_new(ctx, op[1])
    return "done"


@workflow("mb_plan", registry=registry)
def plan_workflow(ctx, plan: list) -> str:
    return interpret(ctx, plan)


@workflow("mb_saga", registry=registry)
def saga_workflow(ctx, plan: list) -> str:
    return interpret(ctx, plan)


@workflow("mb_loop", registry=registry)
def loop_workflow(ctx, plan: list) -> str:
    return interpret(ctx, plan)


@workflow("mb_on", registry=registry, start_on="m.go")
def on_workflow(ctx, k: int) -> str:
    return interpret(ctx, on_plan(k))


def on_plan(k: int) -> list:
    return [["wait", ["m.a"], {"k": k}, None], ["sleep", 30]]


# -- the model ------------------------------------------------------------------------------

@dataclass
class MEvent:
    seq: int  # the order events were stored in: what event floors compare
    type: str
    source: str
    id: str
    n: int  # data["n"]: names this stored event (a pruned (source, id) sent again is a new one)
    k: int
    target: Optional[str]
    stored: bool = True  # False once pruned
    consumers: set = field(default_factory=set)  # every instance that ever took it


@dataclass
class MInstance:
    iid: str
    workflow: str
    plan: list
    floor: int  # the instance takes only events with a larger seq
    pc: int = 0
    status: str = RUNNING
    seen: list = field(default_factory=list)  # per event step: the n it took, or "T" (timeout)
    consumed: set = field(default_factory=set)  # (source, id) it took
    wake: Optional[float] = None
    undo: int = 0  # completed activities with an undo, not undone yet
    pending: bool = False  # runnable, not run yet (an event delivered without resume, a cancel)
    lease_until: Optional[float] = None  # a crashed run's lease
    failed_at: Optional[str] = None  # "flaky" (retryable) or "raise"
    predecessor: Optional["MInstance"] = None


def accepts(event: MEvent, inst: MInstance, op: list) -> bool:
    _, types, match, _ = op
    return (event.type in types and event.seq > inst.floor and event.target in (None, inst.iid)
            and (match is None or match["k"] == event.k) and (event.source, event.id) not in inst.consumed)


class Model:
    """What the database must hold: events in the order stored, instances and what each took."""

    def __init__(self) -> None:
        self.events: list[MEvent] = []
        self.instances: dict[str, MInstance] = {}
        self.unnamed: list[MInstance] = []  # successors, named after the step (continued_as)
        self.crashing: set[str] = set()  # the model's copy of CRASHING
        self.placeholders = itertools.count()

    def stored(self, source: str, event_id: str) -> bool:
        return any(e.stored and (e.source, e.id) == (source, event_id) for e in self.events)

    def add_event(self, type_: str, source: str, event_id: str, n: int, k: int, target: Optional[str]) -> MEvent:
        event = MEvent(len(self.events) + 1, type_, source, event_id, n, k, target)
        self.events.append(event)
        return event

    def start(self, iid: Optional[str], workflow: str, plan: list, now: float, floor: Optional[int] = None,
              run: bool = True) -> MInstance:
        inst = MInstance(iid or f"?{next(self.placeholders)}", workflow, plan, len(self.events) if floor is None else floor)
        if iid is None:  # named "?N" until the database says (Instance.continued_as)
            self.unnamed.append(inst)
        else:
            self.instances[iid] = inst
        if run:
            self.run(inst, now)
        else:
            inst.pending = True
        return inst

    def take(self, inst: MInstance, event: MEvent) -> None:
        inst.seen.append(event.n)
        inst.consumed.add((event.source, event.id))
        event.consumers.add(inst.iid)
        inst.pc += 1

    def run(self, inst: MInstance, now: float) -> None:
        """Run an instance on from its pc until it waits or ends, as the engine's replay does."""
        inst.pending, inst.lease_until, inst.status, inst.wake = False, None, RUNNING, None
        while inst.status == RUNNING:
            if inst.pc >= len(inst.plan):
                inst.status = COMPLETED
                break
            op = inst.plan[inst.pc]
            kind = op[0]
            if kind == "book":
                inst.undo += 1
            elif kind == "flaky" and op[1] in BROKEN:
                inst.status, inst.failed_at = FAILED, "flaky"
                break
            elif kind == "crash" and op[1] in self.crashing:
                self.crashing.discard(op[1])
                inst.pending, inst.lease_until = True, now + LEASE
                raise Crash(op[1])
            elif kind == "sleep":
                inst.status, inst.wake = WAITING_FOR_TIMER, now + op[1]
                break
            elif kind == "wait":
                found = next((e for e in self.events if accepts(e, inst, op)), None)
                if found is None:
                    inst.status = WAITING_FOR_EVENT
                    inst.wake = None if op[3] is None else now + op[3]
                    break
                self.take(inst, found)
                continue
            elif kind == "raise":
                inst.status, inst.failed_at, inst.undo = FAILED, "raise", 0
                break
            elif kind == "again":
                inst.status = CONTINUED_AS_NEW
                floor = max([inst.floor] + [e.seq for e in self.events if inst.iid in e.consumers])
                successor = self.start(None, inst.workflow, op[1], now, floor=floor, run=False)
                successor.predecessor = inst
                self.run(successor, now)
                break
            inst.pc += 1

    def arrive(self, event: MEvent, now: float, resume: bool) -> None:
        """A stored event: every waiting instance it satisfies takes it; m.go starts mb_on."""
        for inst in list(self.instances.values()):
            if inst.status == WAITING_FOR_EVENT and accepts(event, inst, inst.plan[inst.pc]):
                self.take(inst, event)
                inst.status, inst.wake = RUNNING, None
                if resume:
                    self.run(inst, now)
                else:
                    inst.pending = True
        if event.type == "m.go":
            iid = event_instance_id("mb_on", event.source, event.id)
            if iid not in self.instances:
                self.start(iid, "mb_on", on_plan(event.k), now, floor=event.seq, run=resume)

    def tick(self, now: float) -> None:
        """Fire what is due, then run what is runnable (a crashed run once its lease ran out)."""
        for inst in list(self.instances.values()):
            if inst.status in (WAITING_FOR_EVENT, WAITING_FOR_TIMER) and inst.wake is not None and inst.wake <= now:
                if inst.status == WAITING_FOR_EVENT:
                    inst.seen.append("T")
                inst.pc += 1
                self.run(inst, now)
        for inst in list(self.instances.values()):
            if inst.status == COMPENSATING:
                inst.status, inst.undo, inst.pending = CANCELLED, 0, False
            elif inst.pending and (inst.lease_until is None or inst.lease_until < now):
                self.run(inst, now)

    def future_takes(self, inst: MInstance) -> set[int]:
        """The seqs of stored events this instance will take if it runs on (events that arrive
        later cannot change which of these it takes: each wait takes the earliest it accepts)."""
        if inst.status in TERMINAL and inst.failed_at != "flaky" or inst.status == COMPENSATING:
            return set()
        consumed, takes = set(inst.consumed), set()
        for op in inst.plan[inst.pc:]:
            if op[0] in ("raise", "again"):
                break
            if op[0] == "wait":
                probe = MInstance(inst.iid, inst.workflow, inst.plan, inst.floor, consumed=consumed)
                found = next((e for e in self.events if e.stored and accepts(e, probe, op)), None)
                if found is not None:
                    consumed.add((found.source, found.id))
                    takes.add(found.seq)
        return takes


# -- the test machine -----------------------------------------------------------------------

WAIT_OPS = st.builds(lambda types, match, timeout: ["wait", types, match, timeout],
                     st.sampled_from([["m.a"], ["m.a"], ["m.b"], ["m.a", "m.b"]]),
                     st.sampled_from([None, None, {"k": 0}, {"k": 1}]), st.sampled_from([None, None, 60, 600]))
OPS = st.one_of(WAIT_OPS, WAIT_OPS, st.sampled_from([["sleep", 30], ["sleep", 300], ["sleep", 300], ["act", "x"], ["book", "y"]]))
PLANS = st.lists(OPS, min_size=1, max_size=4)
PICK = st.integers(0, 40)
DATA_K = st.integers(0, 1)


class Door:
    """The WSGI app behind the test's waitress server: the current App's endpoint."""

    wsgi: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.wsgi(environ, start_response)


class RomancyMachine(RuleBasedStateMachine):
    """Each rule does one thing through App (or the HTTP endpoint) and the same to the model;
    the invariant compares them after every step."""

    def __init__(self, new_database: Callable[[], tuple[str, Callable[[], None]]], door: Door, url: str) -> None:
        super().__init__()
        self.database, self._drop = new_database()
        self.door, self.url = door, url
        self.clock = ManualClock(START)
        self.generation = 0
        self.app = self._open()
        self.model = Model()
        self.count = 0
        self.sent: list[tuple[str, str, str, int, Optional[str]]] = []
        BROKEN.clear()
        CRASHING.clear()

    def _open(self) -> App:
        self.generation += 1
        app = App(self.database, worker_id=f"model-{self.generation}", clock=self.clock, lease_seconds=LEASE,
                  registry=registry).initialize()
        self.door.wsgi = WsgiApp(app)
        return app

    def teardown(self) -> None:
        self.app.shutdown()
        self._drop()

    def _next(self) -> int:
        self.count += 1
        return self.count

    def _known(self, pick: int) -> Optional[str]:
        ids = sorted(self.model.instances)
        return ids[pick % len(ids)] if ids else None

    def _now(self) -> float:
        return self.clock.now()

    # -- starts ----------------------------------------------------------------------------

    @rule(workflow=st.sampled_from(["mb_plan", "mb_saga", "mb_flaky", "mb_crash", "mb_loop"]), plan=PLANS,
          more=PLANS, fails=st.booleans())
    def start(self, workflow: str, plan: list, more: list, fails: bool) -> None:
        iid = f"i{self._next()}"
        name = {"mb_flaky": "mb_plan", "mb_crash": "mb_plan"}.get(workflow, workflow)
        if workflow == "mb_saga":
            plan = [["book", "b"]] + plan + ([["raise"]] if fails else [])
        elif workflow == "mb_flaky":
            plan = [["flaky", iid]] + plan
            if fails:
                BROKEN.add(iid)
        elif workflow == "mb_crash":
            plan = [["crash", iid]] + plan
            CRASHING.add(iid)
            self.model.crashing.add(iid)
        elif workflow == "mb_loop":
            plan = plan + [["again", more]]
        expected = self._crashes(lambda: self.model.start(iid, name, plan, self._now()))
        actual = self._crashes(lambda: self.app.start(name, plan, instance_id=iid))
        assert actual == expected, f"start {iid}: crash {actual}, the model says {expected}"

    @staticmethod
    def _crashes(call: Callable[[], Any]) -> bool:
        try:
            call()
        except Crash:
            return True
        return False

    # -- events ----------------------------------------------------------------------------

    def _send(self, type_: str, source: str, event_id: str, k: int, target: Optional[str]) -> None:
        n = self._next()
        duplicate = self.model.stored(source, event_id)
        result = self.app.send_event(type_, {"k": k, "n": n}, source=source, event_id=event_id, instance=target)
        assert result.duplicate == duplicate, f"{source}/{event_id}: duplicate {result.duplicate}"
        self.sent.append((type_, source, event_id, k, target))
        if not duplicate:
            self.model.arrive(self.model.add_event(type_, source, event_id, n, k, target), self._now(), True)

    @rule(type_=st.sampled_from(["m.a", "m.a", "m.b", "m.c"]), k=DATA_K, source=st.sampled_from(["s1", "s2"]))
    def broadcast(self, type_: str, k: int, source: str) -> None:
        self._send(type_, source, f"e{self.count + 1}", k, None)

    @precondition(lambda self: self.model.instances)
    @rule(type_=st.sampled_from(["m.a", "m.b"]), k=DATA_K, pick=PICK)
    def targeted(self, type_: str, k: int, pick: int) -> None:
        self._send(type_, "s1", f"e{self.count + 1}", k, self._known(pick))

    @precondition(lambda self: self.sent)
    @rule(pick=PICK)
    def duplicate(self, pick: int) -> None:
        type_, source, event_id, k, target = self.sent[pick % len(self.sent)]
        self._send(type_, source, event_id, k, target)

    @rule(k=DATA_K, source=st.sampled_from(["s1", "s2"]))
    def start_on(self, k: int, source: str) -> None:
        self._send("m.go", source, f"e{self.count + 1}", k, None)

    @rule(k=DATA_K, pick=PICK, new=st.booleans(), plan=PLANS)
    def deliver_or_start(self, k: int, pick: int, new: bool, plan: list) -> None:
        target = f"d{self.count + 1}" if new or not self.model.instances else self._known(pick)
        plan = [["wait", ["m.a"], None, None]] + plan
        existing = self.model.instances.get(target)
        n = self._next()
        if existing is not None and existing.workflow != "mb_plan":
            before = self._stored_counts()
            with pytest.raises(UsageError):
                self.app.send_event("m.a", {"k": k, "n": n}, source="s3", event_id=f"e{n}", instance=target,
                                    start_workflow="mb_plan", kwargs={"plan": plan})
            assert self._stored_counts() == before
            return
        result = self.app.send_event("m.a", {"k": k, "n": n}, source="s3", event_id=f"e{n}", instance=target,
                                     start_workflow="mb_plan", kwargs={"plan": plan})
        assert result.started == (() if existing is not None else (target,))
        self.sent.append(("m.a", "s3", f"e{n}", k, target))
        event = self.model.add_event("m.a", "s3", f"e{n}", n, k, target)
        self.model.arrive(event, self._now(), True)
        if existing is None:
            self.model.start(target, "mb_plan", plan, self._now(), floor=event.seq - 1)

    @rule(events=st.lists(st.tuples(st.sampled_from(["m.a", "m.b", "m.go"]), DATA_K, st.none() | PICK),
                          min_size=1, max_size=4),
          bad=st.sampled_from([None, "data", "id"]), where=st.integers(0, 4))
    def batch(self, events: list, bad: Optional[str], where: int) -> None:
        """An HTTP batch (application/cloudevents-batch+json) through a real waitress server:
        all or nothing; its events are stored unresumed and run at the next tick."""
        body = []
        for type_, k, pick in events:
            n = self._next()
            target = None if pick is None or type_ == "m.go" else self._known(pick)
            body.append((type_, "s4", f"e{n}", n, k, target))
        lines = [_cloud_event(*event) for event in body]
        if bad is not None:
            broken = _cloud_event("m.go", "s4", f"e{self._next()}", self.count, 0, None)
            if bad == "data":
                broken["data"]["k"] = "not a number"
            else:
                del broken["id"]
            lines.insert(where % (len(lines) + 1), broken)
        before = self._stored_counts()
        response = requests.post(self.url, data=json.dumps(lines), timeout=30,
                                 headers={"Content-Type": "application/cloudevents-batch+json"})
        if bad is not None:
            assert response.status_code == 400, response.text
            assert self._stored_counts() == before, "a refused batch stored something"
            return
        assert response.status_code == 202, response.text
        for type_, source, event_id, n, k, target in body:
            self.sent.append((type_, source, event_id, k, target))
            self.model.arrive(self.model.add_event(type_, source, event_id, n, k, target), self._now(), False)

    def _stored_counts(self) -> tuple[int, int]:
        return len(self.app.list_events()), len(self.app.list_instances())

    # -- time, prune, cancel, retry, crash ---------------------------------------------------

    @rule(seconds=st.sampled_from([1, 1, 31, 60, 299, 600, 3600]))
    def tick(self, seconds: int) -> None:
        advance(self.app, seconds)
        self.model.tick(self._now())

    @rule(ended=st.sampled_from([None, 0, 100, 1000]), events=st.sampled_from([None, 0, 0, 100, 1000]))
    def prune(self, ended: Optional[int], events: Optional[int]) -> None:
        now = self._now()
        ended_before = None if ended is None else now - ended
        events_before = None if events is None else now - events
        instances = {i.instance_id: i for i in self.app.list_instances()}
        before = {e.event.data["n"]: e.event for e in self.app.list_events()}
        # Instances that hold events (docs/howto/debug-waiting.md, Retention): all but completed,
        # cancelled and continued_as_new ones; a failed one may be retried.
        holders = [i for i in self.model.instances.values() if i.status not in (COMPLETED, CANCELLED, CONTINUED_AS_NEW)]
        result = self.app.prune(ended_before, events_before)
        after = {e.event.data["n"] for e in self.app.list_events()}
        gone_instances = set(instances) - {i.instance_id for i in self.app.list_instances()}
        needed = {seq: inst.iid for inst in self.model.instances.values() if inst.iid not in gone_instances
                  for seq in self.model.future_takes(inst)}
        by_n = {e.n: e for e in self.model.events if e.stored}
        for n, stored in before.items():
            event = by_n[n]
            old = events_before is not None and stored.received_at < events_before
            if n not in after:
                assert old, f"prune deleted event n={n} received at {stored.received_at}, after the cutoff"
                assert event.seq not in needed, (
                    f"prune deleted event n={n} ({event.type} {event.source}/{event.id}), which instance "
                    f"{needed.get(event.seq)} will still take")
            elif old and event.seq not in needed:
                assert any(i.floor < event.seq and i.iid not in event.consumers for i in holders), (
                    f"prune kept event n={n} ({event.type}), which every instance that holds events and "
                    f"started before it took ({sorted(event.consumers)})")
            event.stored = n in after
        expected = {iid for iid, i in instances.items()
                    if ended_before is not None and i.status in TERMINAL and i.updated_at < ended_before}
        assert gone_instances == expected, f"prune deleted instances {gone_instances}, expected {expected}"
        assert (result.instances, result.events) == (len(gone_instances), len(set(before) - after))
        for iid in gone_instances:
            del self.model.instances[iid]

    @precondition(lambda self: self.model.instances)
    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        iid = self._known(pick)
        inst = self.model.instances[iid]
        if inst.status in TERMINAL:
            with pytest.raises(RomancyError, match="nothing to cancel"):
                self.app.cancel(iid)
            return
        self.app.cancel(iid)
        inst.wake, inst.lease_until = None, None
        inst.status, inst.pending = (COMPENSATING, True) if inst.undo else (CANCELLED, False)

    @precondition(lambda self: self.model.instances)
    @rule(pick=PICK)
    def retry(self, pick: int) -> None:
        iid = self._known(pick)
        inst = self.model.instances[iid]
        if inst.status != FAILED:
            with pytest.raises(RomancyError, match="not failed"):
                self.app.retry(iid)
            return
        if inst.failed_at != "flaky":
            return  # it would fail again at the same line: nothing new to see
        BROKEN.discard(iid)
        inst.failed_at = None
        self.model.run(inst, self._now())
        self.app.retry(iid)

    @rule(expire=st.booleans())
    def crash(self, expire: bool) -> None:
        """The process stops: a new App on the same database, by another worker; `expire`: the
        old leases run out."""
        self.app.shutdown()
        self.app = self._open()
        if expire:
            self.tick(int(LEASE) + 1)

    # -- invariants ----------------------------------------------------------------------------

    def _name_successors(self) -> None:
        for inst in list(self.model.unnamed):
            successor = self.app.get(inst.predecessor.iid).continued_as  # type: ignore[union-attr]
            assert successor is not None, f"{inst.predecessor.iid} did not continue as new"  # type: ignore[union-attr]
            for event in self.model.events:
                if inst.iid in event.consumers:
                    event.consumers.discard(inst.iid)
                    event.consumers.add(successor)
            inst.iid = successor
            self.model.instances[successor] = inst
            self.model.unnamed.remove(inst)

    @invariant()
    def database_agrees_with_model(self) -> None:
        self._name_successors()
        model = self.model
        stored = {i.instance_id: i for i in self.app.list_instances()}
        assert set(stored) == set(model.instances), (
            f"instances: stored only {sorted(set(stored) - set(model.instances))}, "
            f"missing {sorted(set(model.instances) - set(stored))}")
        consumers: dict[int, list[str]] = {}
        for iid, inst in model.instances.items():
            assert stored[iid].status == inst.status, f"{iid} is {stored[iid].status}, the model says {inst.status}"
            seen = [("T" if s.result.get("timeout") else s.result["data"]["n"])
                    for s in self.app.history(iid) if s.kind == "event"]
            assert seen == inst.seen, f"{iid} took {seen}, the model says {inst.seen}"
            for n in inst.seen:
                if n != "T":
                    consumers.setdefault(n, []).append(iid)
        events = {e.event.data["n"]: e for e in self.app.list_events()}
        assert set(events) == {e.n for e in model.events if e.stored}, "the stored events differ from the model's"
        by_n = {e.n: e for e in model.events}
        for n, logged in events.items():
            # A pruned consumer stays named (docs/howto/debug-waiting.md, Retention): the histories
            # of those stored, and the pruned ones the model remembers.
            expected = sorted(consumers.get(n, []) + sorted(by_n[n].consumers - set(stored)))
            assert sorted(logged.consumed_by) == expected, (
                f"event n={n} lists consumers {list(logged.consumed_by)}, histories and pruned consumers say {expected}")


def _cloud_event(type_: str, source: str, event_id: str, n: int, k: int, target: Optional[str]) -> dict:
    event = {"specversion": "1.0", "type": type_, "source": source, "id": event_id,
             "datacontenttype": "application/json", "data": {"k": k, "n": n}}
    if target is not None:
        event["romancyinstanceid"] = target
    return event


@pytest.fixture
def door() -> Iterator[tuple[Door, str]]:
    """A real waitress server on 127.0.0.1 in front of the machine's current App."""
    entry = Door()
    server = create_server(entry, host="127.0.0.1", port=0, threads=1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield entry, f"http://127.0.0.1:{server.effective_port}/"
    finally:
        server.close()
        thread.join(timeout=10)


def _sqlite_database() -> tuple[str, Callable[[], None]]:
    folder = tempfile.mkdtemp(prefix="romancy-model-")
    return os.path.join(folder, "romancy.db"), lambda: shutil.rmtree(folder, ignore_errors=True)


def _run(new_database: Callable[[], tuple[str, Callable[[], None]]], door: tuple[Door, str], examples: int) -> None:
    run_state_machine_as_test(
        lambda: RomancyMachine(new_database, *door),
        settings=settings(max_examples=examples, stateful_step_count=STEPS, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck)))


def test_app_agrees_with_the_model_on_sqlite(door: tuple[Door, str]) -> None:
    _run(_sqlite_database, door, EXAMPLES)


def test_app_agrees_with_the_model_on_postgresql(pg_server: str, door: tuple[Door, str]) -> None:
    _run(pgserver.Databases(pg_server).create, door, max(2, EXAMPLES // 4))

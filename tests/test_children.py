"""Workflows that call workflows: a child is started by a durable step, inserted with the parent's
commit, and its end reaches the parent as an event addressed to it, in the child's final commit;
failures, cancels and timeouts surface in the parent as ChildWorkflow* errors, a parent's end
closes its running children, and the parent's history replays clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from romancy_cli import (App, ChildWorkflowCancelled, ChildWorkflowFailed, ChildWorkflowTimeout, ManualClock,
                         Registry, activity, continue_as_new, execute_child, start_child, wait_child, wait_children,
                         wait_event, workflow)

from conftest import CLOCK_START

registry = Registry()
UNDONE: list[str] = []


@workflow("charge", registry=registry)
def charge(ctx: Any, amount: int) -> dict:
    if amount < 0:
        raise ValueError(f"cannot charge {amount}")
    return {"charged": amount}


@workflow("waiter", registry=registry)
def waiter(ctx: Any, key: str) -> str:
    return wait_event(ctx, "go", match={"key": key}).data["say"]


@activity("unreserve", registry=registry)
def unreserve(ctx: Any, reservation: str, key: str) -> None:
    UNDONE.append(reservation)


@activity("reserve", registry=registry, compensate=unreserve)
def reserve(ctx: Any, key: str) -> str:
    return f"R-{key}"


@workflow("reserving_waiter", registry=registry)
def reserving_waiter(ctx: Any, key: str) -> str:
    reserve.execute(ctx, key)
    return wait_event(ctx, "go", match={"key": key}).data["say"]


@workflow("countdown", registry=registry)
def countdown(ctx: Any, n: int) -> str:
    if n > 0:
        continue_as_new(ctx, n - 1)
    return "liftoff"


@workflow("order", registry=registry)
def order(ctx: Any, amount: int) -> dict:
    return {"paid": execute_child(ctx, "charge", amount)}


@workflow("careful_order", registry=registry)
def careful_order(ctx: Any, amount: int) -> dict:
    try:
        return {"paid": execute_child(ctx, charge, amount)}
    except ChildWorkflowFailed as exc:
        return {"child": exc.child_id, "type": exc.error["type"], "message": exc.error["message"],
                "where": exc.error.get("where", "")}


@workflow("patient", registry=registry)
def patient(ctx: Any, key: Any, workflow_name: str = "waiter") -> dict:
    try:
        return {"said": execute_child(ctx, workflow_name, key, timeout="1h")}
    except ChildWorkflowCancelled as exc:
        return {"cancelled": exc.child_id}
    except ChildWorkflowTimeout as exc:
        return {"timed_out": exc.child_id}


@workflow("two_kinds", registry=registry)
def two_kinds(ctx: Any, key: str) -> str:
    start_child(ctx, "reserving_waiter", key + "-closed")
    start_child(ctx, "waiter", key + "-abandoned", parent_close="abandon")
    return wait_event(ctx, "never").data


@workflow("failing_parent", registry=registry)
def failing_parent(ctx: Any, key: str) -> None:
    start_child(ctx, "waiter", key)
    execute_child(ctx, "charge", -1)


@workflow("fan_out", registry=registry)
def fan_out(ctx: Any, count: int) -> dict:
    ids = [start_child(ctx, "charge", n) for n in range(count)]
    outputs = wait_children(ctx, ids)
    return {"total": sum(o["charged"] for o in outputs), "first": outputs[0], "last": outputs[-1]}


@workflow("first_of", registry=registry)
def first_of(ctx: Any, keys: list) -> dict:
    ids = [start_child(ctx, "waiter", key, id=f"{ctx.instance_id}-{key}") for key in keys]
    first, said = wait_children(ctx, ids, mode="any")
    rest = wait_children(ctx, ids)  # the one taken first is known already
    return {"first": first, "said": said, "all": rest}


@workflow("attacher", registry=registry)
def attacher(ctx: Any, child_id: str) -> Any:
    return execute_child(ctx, "charge", 7, id=child_id)


@workflow("async_order", registry=registry)
async def async_order(ctx: Any, amount: int) -> dict:
    child = await start_child(ctx, "charge", amount)
    return {"paid": await wait_child(ctx, child)}


@workflow("unknown_child", registry=registry)
def unknown_child(ctx: Any) -> None:
    execute_child(ctx, "no_such_workflow")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "romancy.db")
    return str(request.getfixturevalue("pg_url"))


def _app(database: str, clock: ManualClock | None = None) -> App:
    return App(database=database, worker_id="kids", clock=clock or ManualClock(CLOCK_START), registry=registry)


def test_a_child_s_output_is_the_parent_s_result_in_one_start(database: str) -> None:
    with _app(database) as app:
        parent = app.start("order", 12)
        assert (app.get(parent).status, app.get(parent).output) == ("completed", {"paid": {"charged": 12}})
        (child,) = app.children(parent)
        assert (child.instance_id, child.workflow, child.status) == (f"{parent}:0", "charge", "completed")
        assert child.parent_id == parent and app.get(parent).parent_id is None
        assert [(s.kind, s.name) for s in app.history(parent)] == [
            ("child", "charge"), ("event", "romancy.child.completed")]
        assert app.check_replay(include_ended=True) == (2, [])


def test_a_failed_child_raises_in_the_parent_with_its_id_type_message_and_place(sqlite_app: App) -> None:
    parent = sqlite_app.start("careful_order", -5)
    output = sqlite_app.get(parent).output
    assert output["child"] == f"{parent}:0" and sqlite_app.get(output["child"]).status == "failed"
    assert (output["type"], output["message"]) == ("ValueError", "cannot charge -5")
    assert output["where"].endswith(f"{Path(__file__).name}:{charge.fn.__code__.co_firstlineno + 3}")


def test_an_uncaught_child_failure_fails_the_parent(sqlite_app: App) -> None:
    parent = sqlite_app.start("order", -1)
    error = sqlite_app.get(parent).error
    assert sqlite_app.get(parent).status == "failed" and error["type"] == "ChildWorkflowFailed"
    assert error["message"] == f"child workflow {parent}:0 failed: ValueError: cannot charge -1"


def test_a_child_that_waits_wakes_its_parent_in_the_event_s_delivery(sqlite_app: App) -> None:
    parent = sqlite_app.start("patient", "k1")
    child = f"{parent}:0"
    assert (sqlite_app.get(parent).status, sqlite_app.get(child).status) == ("waiting_for_event", "waiting_for_event")
    sent = sqlite_app.send_event("go", {"key": "k1", "say": "hello"})
    assert sent.resumed == {child: "completed"}
    assert sqlite_app.get(parent).output == {"said": "hello"}  # no tick: woken by the child's commit


def test_cancelling_a_child_raises_cancelled_in_the_parent_and_leaves_the_parent_running(sqlite_app: App) -> None:
    parent = sqlite_app.start("patient", "k2")
    sqlite_app.cancel(f"{parent}:0", "not needed")
    assert sqlite_app.get(f"{parent}:0").status == "cancelled"
    assert (sqlite_app.get(parent).status, sqlite_app.get(parent).output) == (
        "completed", {"cancelled": f"{parent}:0"})


def test_a_timed_out_wait_raises_timeout_and_the_child_keeps_running(sqlite_path: str) -> None:
    clock = ManualClock(CLOCK_START)
    with _app(sqlite_path, clock) as app:
        parent = app.start("patient", "k3")
        clock.advance(3601)
        app.tick()
        assert app.get(parent).output == {"timed_out": f"{parent}:0"}
        assert app.get(f"{parent}:0").status == "waiting_for_event"
        assert app.send_event("go", {"key": "k3", "say": "late"}).resumed == {f"{parent}:0": "completed"}
        assert app.get(parent).status == "completed"  # a late end changes nothing in the parent


def test_a_child_that_continues_as_new_is_followed_to_the_end_of_its_chain(database: str) -> None:
    with _app(database) as app:
        parent = app.start("patient", 3, "countdown")
        assert app.get(parent).output == {"said": "liftoff"}
        chain = app.children(parent)
        assert sorted(c.status for c in chain) == ["completed"] + ["continued_as_new"] * 3
        assert all(c.parent_id == parent for c in chain)


def test_cancelling_a_parent_cancels_its_children_first_unless_abandoned(sqlite_app: App) -> None:
    UNDONE.clear()
    parent = sqlite_app.start("two_kinds", "k4")
    closed, abandoned = f"{parent}:0", f"{parent}:1"
    sqlite_app.cancel(parent, "order withdrawn")
    assert sqlite_app.get(parent).status == "cancelled"
    assert sqlite_app.get(closed).status == "compensating"  # its undo runs as any cancelled instance's
    assert sqlite_app.get(closed).error["message"] == f"parent {parent} cancelled"
    sqlite_app.tick()
    assert sqlite_app.get(closed).status == "cancelled" and UNDONE == ["R-k4-closed"]
    assert sqlite_app.get(abandoned).status == "waiting_for_event"
    assert sqlite_app.send_event("go", {"key": "k4-abandoned", "say": "still here"}).resumed == {
        abandoned: "completed"}
    assert sqlite_app.get(parent).status == "cancelled"


def test_a_failing_parent_cancels_its_running_children(sqlite_app: App) -> None:
    parent = sqlite_app.start("failing_parent", "k5")
    assert sqlite_app.get(parent).status == "failed"
    assert sqlite_app.get(f"{parent}:0").status == "cancelled"
    assert sqlite_app.get(f"{parent}:1").status == "failed"


def test_wait_for_any_returns_the_first_to_end_and_all_keeps_the_order_of_ids(sqlite_app: App) -> None:
    parent = sqlite_app.start("first_of", ["a", "b", "c"])
    sqlite_app.send_event("go", {"key": "b", "say": "B"})
    assert sqlite_app.get(parent).status == "waiting_for_event"
    sqlite_app.send_event("go", {"key": "c", "say": "C"})
    sqlite_app.send_event("go", {"key": "a", "say": "A"})
    assert sqlite_app.get(parent).output == {"first": f"{parent}-b", "said": "B", "all": ["A", "B", "C"]}
    assert sqlite_app.check_replay(include_ended=True) == (4, [])


def test_an_explicit_id_that_exists_is_attached_to_not_started_twice(sqlite_app: App) -> None:
    sqlite_app.start("charge", 3, instance_id="CHG-1")
    parent = sqlite_app.start("attacher", "CHG-1")
    assert sqlite_app.get(parent).output == {"charged": 3}  # the existing one's output, not 7
    assert [c.instance_id for c in sqlite_app.children(parent)] == ["CHG-1"]
    other = sqlite_app.start("attacher", "CHG-1")
    assert sqlite_app.get(other).status == "failed"
    assert sqlite_app.get(other).error["message"] == f"child id CHG-1 is a child of {parent} already"


def test_an_async_parent_awaits_its_child(sqlite_app: App) -> None:
    parent = sqlite_app.start("async_order", 4)
    assert sqlite_app.get(parent).output == {"paid": {"charged": 4}}


def test_an_unknown_child_workflow_fails_the_parent_naming_it(sqlite_app: App) -> None:
    parent = sqlite_app.start("unknown_child")
    assert sqlite_app.get(parent).status == "failed"
    assert "unknown workflow 'no_such_workflow'" in sqlite_app.get(parent).error["message"]
    assert sqlite_app.children(parent) == []


def test_a_thousand_children_fan_out_and_in(database: str) -> None:
    with _app(database) as app:
        parent = app.start("fan_out", 1000)
        assert app.get(parent).output == {"total": sum(range(1000)), "first": {"charged": 0},
                                          "last": {"charged": 999}}
        assert len(app.children(parent)) == 1000
        assert app.count_instances(workflow="charge") == {"completed": 1000}


CLI_WORKFLOWS = '''
from romancy_cli import execute_child, workflow


@workflow("charge")
def charge(ctx, amount: int) -> dict:
    return {"charged": amount}


@workflow("pay")
def pay(ctx, amount: int) -> dict:
    return {"paid": execute_child(ctx, "charge", amount)}


@workflow("order")
def order(ctx, amount: int) -> dict:
    return {"order": execute_child(ctx, "pay", amount)}
'''


def test_status_shows_parent_and_children_in_text_json_and_tree(tmp_path: Path) -> None:
    from cli_helpers import make_project

    project = make_project(tmp_path)
    project.write("workflows.py", CLI_WORKFLOWS)
    parent = project.run("start", "order", "5").stdout.strip()
    pay_id, charge_id = f"{parent}:0", f"{parent}:0:0"
    shown = project.run("status", parent).stdout
    assert f"children\n    {pay_id}  pay  completed" in shown
    assert f"parent    {parent}" in project.run("status", pay_id).stdout
    detail = project.run("status", parent, "--json").json
    assert detail["parent_id"] is None and detail["output"] == {"order": {"paid": {"charged": 5}}}
    assert detail["children"] == [{"instance_id": pay_id, "workflow": "pay", "status": "completed"}]
    child = project.run("status", pay_id, "--json").json
    assert child["parent_id"] == parent and [c["instance_id"] for c in child["children"]] == [charge_id]
    assert project.run("status", parent, "--tree").stdout.splitlines() == [
        f"{parent}  order  completed", f"  {pay_id}  pay  completed", f"    {charge_id}  charge  completed"]
    tree = project.run("status", parent, "--tree", "--json").json
    assert tree["children"][0]["children"][0] == {"instance_id": charge_id, "workflow": "charge",
                                                  "status": "completed", "children": []}
    listed = {i["instance_id"]: i["parent_id"] for i in project.run("status", "--json").json}
    assert listed == {parent: None, pay_id: parent, charge_id: pay_id}
    bad = project.run("status", "--tree")
    assert bad.code == 2 and bad.error_line == "error: --tree needs an INSTANCE_ID: romancy status ID --tree"


def test_get_instance_and_the_page_link_parent_and_children(sqlite_path: str) -> None:
    import requests
    from urllib.parse import quote

    from serve_support import run_server

    app = App(database=sqlite_path, worker_id="web", registry=registry).initialize()
    parent = app.start("order", 3)
    child = f"{parent}:0"
    for server in run_server(Path(sqlite_path), app=app):
        base = f"http://127.0.0.1:{server.server.port}"
        body = requests.get(f"{base}/instances/{quote(parent)}", timeout=10).json()
        assert (body["parent_id"], body["children"]) == (None, [
            {"instance_id": child, "workflow": "charge", "status": "completed"}])
        assert requests.get(f"{base}/instances/{quote(child)}", timeout=10).json()["parent_id"] == parent
        assert f'href="/ui/instances/{quote(child)}"' in requests.get(f"{base}/ui/instances/{quote(parent)}",
                                                                        timeout=10).text
        assert f'id="parent" href="/ui/instances/{quote(parent)}"' in requests.get(
            f"{base}/ui/instances/{quote(child)}", timeout=10).text


KILLED_FAMILY = '''
import os
import time
from romancy_cli import activity, execute_child, wait_event, workflow

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "effects.log")


@activity
def note(ctx, label: str) -> str:
    with open(LOG, "a") as log:
        log.write(ctx.idempotency_key + "\\n")
    time.sleep(0.02)  # a side effect that takes a while: kills land between it and its record
    return label


@workflow
def kid(ctx, order: str) -> str:
    note.execute(ctx, "kid")
    return order.lower()


@workflow
def elder(ctx, order: str) -> str:
    wait_event(ctx, "kill.go", match={"order": order})
    said = execute_child(ctx, "kid", order)
    note.execute(ctx, "elder")
    return said
'''


def test_sigkilled_parents_and_children_start_each_child_once_and_leave_no_parent_waiting(tmp_path: Path) -> None:
    import random
    from collections import Counter

    from cli_helpers import make_project
    from test_faults import kill_midway, tick_until_completed

    project, rng = make_project(tmp_path), random.Random(20261208)
    project.write("workflows.py", KILLED_FAMILY)
    orders = [f"O{n}" for n in range(6)]
    parents = [project.run("start", "elder", order, "--id", f"p-{order}").stdout.strip() for order in orders]
    go = [["send-event", "kill.go", "--data", f'{{"order": "{order}"}}', "--id", f"go-{order}"] for order in orders]
    killed = sum(kill_midway(project, rng, *args) for args in go)
    killed += sum(kill_midway(project, rng, "tick") for _ in range(8))
    assert killed >= 1
    for args in go:  # what the sender did not see acknowledged, it sends again: a duplicate is harmless
        assert project.run(*args).code == 0
    tick_until_completed(project)
    rows = project.rows("SELECT instance_id, workflow, status, parent_id, output FROM romancy_instances")
    assert sorted(rows) == sorted([(p, "elder", "completed", None, f'"{o.lower()}"') for p, o in zip(parents, orders)]
                                  + [(f"{p}:1", "kid", "completed", p, f'"{o.lower()}"')
                                     for p, o in zip(parents, orders)])
    runs = Counter((project.root / "effects.log").read_text().split())
    assert set(runs) == {f"{p}:1/0:note" for p in parents} | {f"{p}/3:note" for p in parents}
    assert max(runs.values()) <= 1 + killed  # at least once; again only after a kill


@workflow("impatient_fan", registry=registry)
def impatient_fan(ctx: Any, keys: list) -> Any:
    ids = [start_child(ctx, "waiter", key) for key in keys]
    try:
        return wait_children(ctx, ids, timeout="10m")
    except ChildWorkflowTimeout as exc:
        return {"timed_out": exc.child_id}


def test_wait_children_times_out_once_for_the_whole_wait(sqlite_path: str) -> None:
    clock = ManualClock(CLOCK_START)
    with _app(sqlite_path, clock) as app:
        parent = app.start("impatient_fan", ["x", "y"])
        clock.advance(300)
        app.send_event("go", {"key": "x", "say": "X"})
        assert app.get(parent).wait.wake_at == CLOCK_START + 600  # counted from the first wait, not this one
        clock.advance(301)
        app.tick()
        assert app.get(parent).output == {"timed_out": f"{parent}:1"}
        assert app.check_replay(include_ended=True)[1] == []


def test_bad_calls_fail_the_parent_with_one_clear_message(sqlite_app: App) -> None:
    for bad, message in ((["x", 3], "a child workflow's id must be a non-empty string, not 3"),
                         ([], "wait_children needs a non-empty list of child ids, not []")):
        failed = sqlite_app.get(sqlite_app.start("bad_waits", bad))
        assert (failed.status, failed.error["message"]) == ("failed", message)
    closed = sqlite_app.get(sqlite_app.start("bad_close"))
    assert closed.error["message"] == "parent_close must be 'cancel' or 'abandon', not 'never'"


@workflow("bad_waits", registry=registry)
def bad_waits(ctx: Any, ids: list) -> Any:
    return wait_children(ctx, ids)


@workflow("bad_close", registry=registry)
def bad_close(ctx: Any) -> Any:
    return start_child(ctx, "charge", 1, parent_close="never")


@workflow("stranger_waiter", registry=registry)
def stranger_waiter(ctx: Any) -> Any:
    return wait_child(ctx, "someone-else")


def test_waiting_for_an_id_this_run_did_not_start_fails_at_once(sqlite_app: App) -> None:
    failed = sqlite_app.get(sqlite_app.start("stranger_waiter"))
    assert failed.status == "failed"
    assert failed.error["message"] == (f"someone-else is not a child of {failed.instance_id}: wait only for ids "
                                       "that start_child returned")


def test_an_unaddressed_child_end_sent_from_outside_satisfies_no_parent(sqlite_app: App) -> None:
    parent = sqlite_app.start("patient", "k6")
    forged = sqlite_app.send_event("romancy.child.completed", {"child_id": f"{parent}:0", "status": "completed",
                                                               "output": "forged"})
    assert forged.resumed == {} and sqlite_app.get(parent).status == "waiting_for_event"

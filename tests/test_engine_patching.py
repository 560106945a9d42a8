"""Versioning (README "Changing workflow code"): `ctx.patched` lets instances recorded before a
change and those started after it both continue; removing the call retires the patch."""

from __future__ import annotations

import pytest

from romancy_cli import Registry, activity, wait_event, workflow

registry = Registry()

CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


@activity("charge", registry=registry)
def charge(ctx, order_id: str) -> str:
    CALLS.append(f"charge:{order_id}")
    return f"CH-{order_id}"


@activity("fee", registry=registry)
def fee(ctx, order_id: str) -> str:
    CALLS.append(f"fee:{order_id}")
    return f"FEE-{order_id}"


@activity("ship", registry=registry)
def ship(ctx, order_id: str) -> str:
    CALLS.append(f"ship:{order_id}")
    return f"SH-{order_id}"


def _deploy(version: str) -> None:
    """Define workflow "billing" as one version of its code, as a deploy under the same name would."""

    @workflow("billing", registry=registry)
    def billing(ctx, order_id: str) -> list:
        done = [charge.execute(ctx, order_id)]
        if version == "patched" and ctx.patched("new-fee-step"):
            done.append(fee.execute(ctx, order_id))
        if version in ("unpatched", "retired"):
            done.append(fee.execute(ctx, order_id))
        wait_event(ctx, "t.patch.go", match={"order_id": order_id})
        return done + [ship.execute(ctx, order_id)]


def _go(app, order_id: str) -> str:
    return app.send_event("t.patch.go", {"order_id": order_id}).resumed


def _kinds(app, instance_id: str) -> list[tuple[str, str]]:
    return [(s.kind, s.name) for s in app.history(instance_id)]


def test_old_and_new_instances_both_complete_under_patched_code(sqlite_app):
    _deploy("old")
    old = sqlite_app.start("billing", "OLD")  # waits under the old code

    _deploy("patched")
    new = sqlite_app.start("billing", "NEW")
    assert _go(sqlite_app, "OLD") == {old: "completed"}
    assert _go(sqlite_app, "NEW") == {new: "completed"}

    assert sqlite_app.get(old).output == ["CH-OLD", "SH-OLD"]  # replayed the old branch
    assert sqlite_app.get(new).output == ["CH-NEW", "FEE-NEW", "SH-NEW"]
    assert _kinds(sqlite_app, old) == [("activity", "charge"), ("event", "t.patch.go"), ("activity", "ship")]
    assert _kinds(sqlite_app, new) == [("activity", "charge"), ("patch", "new-fee-step"), ("activity", "fee"),
                                       ("event", "t.patch.go"), ("activity", "ship")]
    assert CALLS == ["charge:OLD", "charge:NEW", "fee:NEW", "ship:OLD", "ship:NEW"]


def test_without_the_patch_the_old_instance_is_parked(sqlite_app):
    _deploy("old")
    old = sqlite_app.start("billing", "OLD")

    _deploy("unpatched")
    assert _go(sqlite_app, "OLD") == {old: "parked"}
    instance = sqlite_app.get(old)
    assert (instance.parked, instance.error["type"]) == (True, "NonDeterminismError")
    assert "'fee'" in instance.error["message"]


def test_retiring_the_patch_keeps_instances_that_recorded_it(sqlite_app):
    _deploy("patched")
    new = sqlite_app.start("billing", "NEW")

    _deploy("retired")  # the patched() call removed, its new branch kept
    assert _go(sqlite_app, "NEW") == {new: "completed"}
    assert sqlite_app.get(new).output == ["CH-NEW", "FEE-NEW", "SH-NEW"]
    assert CALLS == ["charge:NEW", "fee:NEW", "ship:NEW"]  # the marker was stepped over, nothing re-ran


def test_a_patch_added_later_is_false_for_a_history_holding_an_earlier_marker(sqlite_app):
    @workflow("two_patches", registry=registry)
    def first(ctx) -> list:
        taken = [ctx.patched("a")]
        wait_event(ctx, "t.patch.two")
        return taken

    instance_id = sqlite_app.start("two_patches")

    @workflow("two_patches", registry=registry)
    def second(ctx) -> list:
        taken = [ctx.patched("a"), ctx.patched("b")]
        wait_event(ctx, "t.patch.two")
        return taken

    sqlite_app.send_event("t.patch.two")
    assert sqlite_app.get(instance_id).output == [True, False]
    fresh = sqlite_app.start("two_patches")
    assert _kinds(sqlite_app, fresh) == [("patch", "a"), ("patch", "b")]

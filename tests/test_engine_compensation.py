"""Saga compensation (README "Undoing work"): activities declare their undo; a run that fails or
is cancelled undoes its completed activities, newest first, each undo a durable step. On a real
SQLite file, through App."""

from __future__ import annotations

import pytest

from romancy_cli import (App, CompensationError, Registry, RetryPolicy, activity, compensate, wait_event,
                         workflow)
from romancy_cli.testing import advance

registry = Registry()

EFFECTS: list[str] = []


@pytest.fixture(autouse=True)
def _clear_effects():
    EFFECTS.clear()
    yield
    EFFECTS.clear()


@activity("cancel_flight", registry=registry)
def cancel_flight(ctx, booking: str, trip: str) -> None:
    EFFECTS.append(f"cancel {booking} of {trip}")


@activity("cancel_hotel", registry=registry)
def cancel_hotel(ctx, booking: str, trip: str, nights: int = 1) -> None:
    EFFECTS.append(f"cancel {booking} of {trip} ({nights} nights)")


@activity("release_car", registry=registry, retry=RetryPolicy(max_attempts=3, initial_interval=1))
def release_car(ctx, booking: str, trip: str) -> None:
    EFFECTS.append(f"release attempt {ctx.attempt}")
    raise ConnectionError("car desk unreachable")


@activity("book_flight", registry=registry, compensate=cancel_flight)
def book_flight(ctx, trip: str) -> str:
    EFFECTS.append(f"book flight {trip}")
    return f"FL-{trip}"


@activity("book_hotel", registry=registry, compensate=cancel_hotel)
def book_hotel(ctx, trip: str, nights: int = 1) -> str:
    EFFECTS.append(f"book hotel {trip}")
    return f"HO-{trip}"


@activity("book_car", registry=registry, compensate=release_car)
def book_car(ctx, trip: str) -> str:
    EFFECTS.append(f"book car {trip}")
    return f"CA-{trip}"


@activity("pay", registry=registry)
def pay(ctx, trip: str) -> str:
    raise ValueError(f"card declined for {trip}")


@workflow("trip", registry=registry)
def trip(ctx, trip_id: str) -> str:
    book_flight.execute(ctx, trip_id)
    book_hotel.execute(ctx, trip_id, nights=3)
    pay.execute(ctx, trip_id)
    return "booked"


@workflow("trip_waiting", registry=registry)
def trip_waiting(ctx, trip_id: str) -> str:
    book_flight.execute(ctx, trip_id)
    book_hotel.execute(ctx, trip_id)
    wait_event(ctx, "trip.confirmed", match={"trip": trip_id})
    return "confirmed"


@workflow("trip_car", registry=registry)
def trip_car(ctx, trip_id: str) -> str:
    book_flight.execute(ctx, trip_id)
    book_car.execute(ctx, trip_id)
    pay.execute(ctx, trip_id)
    return "booked"


@workflow("trip_handled", registry=registry)
def trip_handled(ctx, trip_id: str) -> str:
    book_flight.execute(ctx, trip_id)
    book_hotel.execute(ctx, trip_id)
    try:
        pay.execute(ctx, trip_id)
    except Exception:
        compensate(ctx)
        return "refunded"
    return "booked"


@workflow("trip_car_handled", registry=registry)
def trip_car_handled(ctx, trip_id: str) -> str:
    book_flight.execute(ctx, trip_id)
    book_car.execute(ctx, trip_id)
    try:
        pay.execute(ctx, trip_id)
    except Exception:
        try:
            compensate(ctx)
        except CompensationError as exc:
            return str(exc)
    return "booked"


@workflow("trip_unbooked", registry=registry)
def trip_unbooked(ctx, trip_id: str) -> str:
    wait_event(ctx, "trip.confirmed", match={"trip": trip_id})
    return book_flight.execute(ctx, trip_id)


@workflow("trip_async", registry=registry)
async def trip_async(ctx, trip_id: str) -> str:
    await book_flight.execute(ctx, trip_id)
    await book_hotel.execute(ctx, trip_id)
    await pay.execute(ctx, trip_id)
    return "booked"


def _kinds(app: App, instance_id: str) -> list[tuple[str, str]]:
    return [(step.kind, step.name) for step in app.history(instance_id)]


def test_a_failure_undoes_the_completed_activities_newest_first(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip", "T1")
    assert EFFECTS == ["book flight T1", "book hotel T1", "cancel HO-T1 of T1 (3 nights)", "cancel FL-T1 of T1"]
    instance = sqlite_app.get(iid)
    assert instance.status == "failed"
    assert instance.error["type"] == "ActivityError" and "card declined for T1" in instance.error["message"]
    assert _kinds(sqlite_app, iid) == [("activity", "book_flight"), ("activity", "book_hotel"), ("activity", "pay"),
                                       ("ended", "failed"), ("activity", "cancel_hotel"),
                                       ("activity", "cancel_flight")]
    assert sqlite_app.tick().resumed == {} and len(EFFECTS) == 4  # ended: nothing runs again


def test_async_workflows_are_compensated_alike(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip_async", "T2")
    assert EFFECTS[2:] == ["cancel HO-T2 of T2 (1 nights)", "cancel FL-T2 of T2"]
    assert sqlite_app.get(iid).status == "failed"


def test_cancel_of_a_waiting_instance_compensates_then_is_cancelled(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip_waiting", "T3")
    instance = sqlite_app.cancel(iid, "customer changed plans")
    assert (instance.status, instance.lease_owner) == ("compensating", None)
    assert EFFECTS == ["book flight T3", "book hotel T3"]  # the undo is a worker's run, not the cancel's
    assert sqlite_app.tick().resumed == {iid: "cancelled"}
    assert EFFECTS[2:] == ["cancel HO-T3 of T3 (1 nights)", "cancel FL-T3 of T3"]
    instance = sqlite_app.get(iid)
    assert instance.status == "cancelled"
    assert instance.error == {"type": "Cancelled", "message": "customer changed plans"}
    assert _kinds(sqlite_app, iid)[2:] == [("ended", "cancelled"), ("activity", "cancel_hotel"),
                                           ("activity", "cancel_flight")]
    assert sqlite_app.send_event("trip.confirmed", {"trip": "T3"}).delivered == ()


def test_cancel_without_anything_to_undo_is_immediate(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip_unbooked", "T4")
    assert sqlite_app.cancel(iid, "stop").status == "cancelled"
    assert sqlite_app.tick().resumed == {} and EFFECTS == []
    assert _kinds(sqlite_app, iid) == []


def test_a_compensation_that_fails_for_good_fails_the_instance_with_both_errors(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip_car", "T6")
    assert sqlite_app.get(iid).status == "waiting_for_timer"  # the undo waits for its retry
    for _ in range(4):
        advance(sqlite_app, "1m")
    instance = sqlite_app.get(iid)
    assert instance.status == "failed"
    assert "card declined for T6" in instance.error["message"]
    assert "then compensation failed: activity 'release_car' failed after 3 attempts: ConnectionError" \
        in instance.error["message"]
    assert EFFECTS[2:] == ["release attempt 1", "release attempt 2", "release attempt 3", "cancel FL-T6 of T6"]
    advance(sqlite_app, "1h")
    assert len(EFFECTS) == 6 and sqlite_app.get(iid).status == "failed"  # no loop


def test_a_workflow_can_compensate_in_its_own_except(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip_handled", "T7")
    instance = sqlite_app.get(iid)
    assert (instance.status, instance.output) == ("completed", "refunded")
    assert EFFECTS[2:] == ["cancel HO-T7 of T7 (1 nights)", "cancel FL-T7 of T7"]
    assert [kind for kind, _ in _kinds(sqlite_app, iid)].count("ended") == 0


def test_compensated_histories_replay_and_fit(sqlite_app: App) -> None:
    for workflow_name in ("trip", "trip_car", "trip_handled"):
        sqlite_app.start(workflow_name, f"R-{workflow_name}")
    checked, misfits = sqlite_app.check_replay(include_ended=True)
    assert (checked, misfits) == (3, [])


def test_compensate_in_an_except_raises_what_failed_for_good(sqlite_app: App) -> None:
    iid = sqlite_app.start("trip_car_handled", "T8")
    for _ in range(4):
        advance(sqlite_app, "1m")
    instance = sqlite_app.get(iid)
    assert instance.status == "completed"
    assert instance.output.startswith("compensation failed: activity 'release_car' failed after 3 attempts")
    assert EFFECTS[2:] == ["release attempt 1", "release attempt 2", "release attempt 3", "cancel FL-T8 of T8"]

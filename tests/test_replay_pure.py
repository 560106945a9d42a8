"""replay.run is pure: plain histories in, outcomes out. No database, no engine, no mocks."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

import pytest

from romancy_cli import ActivityError, EventTimeout, RetryPolicy, sleep, wait_event
from romancy_cli.definitions import ActivityDefinition, WorkflowDefinition
from romancy_cli.engine import replay
from romancy_cli.engine.replay import Completed, Diverged, Failed, Suspended
from romancy_cli.records import Step, Wait, attempt_step

NOW = 1_000.0


class PlainHooks:
    """The engine's side of a run, answered from a dict: failed attempts per step."""

    def __init__(self, failed: Optional[dict[int, int]] = None) -> None:
        self.failed = failed or {}
        self.side_effects = 0

    def now(self) -> float:
        return NOW

    def before_side_effect(self, ctx: Any) -> None:
        self.side_effects += 1

    def failed_attempts(self, seq: int) -> int:
        return self.failed.get(seq, 0)

    def activity_started(self, ctx: Any, name: str, attempt: int) -> None:
        return None

    def activity_ended(self, ctx: Any, name: str, attempt: int, started: Any, error: Any) -> None:
        pass

    def trace_headers(self) -> dict[str, str]:
        return {}


EXECUTED: list[str] = []


def _activity(name: str, fn=None, retry: Optional[RetryPolicy] = None) -> ActivityDefinition:
    def default(ctx, *args):
        EXECUTED.append(name)
        return f"{name}-result"
    definition = ActivityDefinition(name, fn or default)
    if retry is not None:
        definition.retry = retry
    return definition


charge = _activity("charge")
ship = _activity("ship")


def _wf(fn, name: str = "wf") -> WorkflowDefinition:
    return WorkflowDefinition(name, fn)


def _run(fn, history: list[Step], hooks: Optional[PlainHooks] = None, args: Optional[list] = None):
    outcome, _ = replay.run(_wf(fn), "wf-1", args or [], {}, history, hooks or PlainHooks())
    return outcome


def _event(event_id: str, event_type: str = "paid", data: Any = None) -> dict:
    return {"seq": 1, "type": event_type, "source": "s", "id": event_id, "data": data}


@pytest.fixture(autouse=True)
def _clear():
    EXECUTED.clear()


def pay(ctx):
    charged = charge.execute(ctx)
    event = wait_event(ctx, "paid", timeout=60, match={"order_id": "A"})
    shipped = ship.execute(ctx)
    return [charged, event.id, shipped]


def test_history_answers_recorded_steps_without_executing():
    history = [Step(0, "activity", "charge", {"value": "old-charge"}), Step(1, "event", "paid", _event("e1")),
               Step(2, "activity", "ship", {"value": "old-ship"})]
    hooks = PlainHooks()
    outcome = _run(pay, history, hooks)
    assert outcome == Completed([], ["old-charge", "e1", "old-ship"])
    assert (EXECUTED, hooks.side_effects) == ([], 0)


def test_new_steps_execute_and_are_returned_in_order():
    first = _run(pay, [], PlainHooks())
    assert isinstance(first, Suspended) and first.wait.seq == 1
    history = first.steps + [Step(1, "event", "paid", _event("e9"))]
    outcome = _run(pay, history, PlainHooks())
    assert isinstance(outcome, Completed)
    assert [(s.seq, s.kind, s.name) for s in first.steps + outcome.steps] == [
        (0, "activity", "charge"), (2, "activity", "ship")]
    assert outcome.output == ["charge-result", "e9", "ship-result"]
    assert EXECUTED == ["charge", "ship"]


def test_wait_without_event_suspends_with_deadline_and_match():
    hooks = PlainHooks()
    outcome = _run(pay, [Step(0, "activity", "charge", {"value": "c"})], hooks)
    assert outcome == Suspended([], Wait("event", 1, "paid", {"order_id": "A"}, NOW + 60))
    assert hooks.side_effects == 0


def test_timeout_in_history_raises_event_timeout_at_the_wait():
    def caught(ctx):
        try:
            wait_event(ctx, "paid", timeout="1m")
        except EventTimeout as exc:
            return f"timed out: {exc}"
        return "paid"

    outcome = _run(caught, [Step(0, "event", "paid", {"timeout": True, "at": NOW})])
    assert outcome == Completed([], "timed out: no 'paid' event arrived before the timeout")

    outcome = _run(pay, [Step(0, "activity", "charge", {"value": "c"}),
                         Step(1, "event", "paid", {"timeout": True, "at": NOW})])
    assert isinstance(outcome, Failed) and outcome.error["type"] == "EventTimeout"


def test_sleep_suspends_then_continues_from_history():
    def napper(ctx):
        sleep(ctx, "90s")
        return "awake"

    assert _run(napper, []) == Suspended([], Wait("timer", 0, wake_at=NOW + 90))
    assert _run(napper, [Step(0, "timer", "sleep", {"fired_at": NOW + 90})]) == Completed([], "awake")


@pytest.mark.parametrize("history, recorded, called", [
    ([Step(0, "activity", "refund", {"value": 1})], "activity 'refund'", "activity 'charge'"),
    ([Step(0, "timer", "sleep", {"fired_at": 1})], "timer 'sleep'", "activity 'charge'"),
    ([Step(0, "activity", "charge", {"value": 1}), Step(1, "event", "refunded", _event("x"))],
     "event 'refunded'", "event 'paid'"),
])
def test_different_step_at_a_position_diverges_naming_both(history, recorded, called):
    outcome = _run(pay, history)
    assert isinstance(outcome, Diverged)
    assert f"history recorded {recorded}" in outcome.message and f"now calls {called}" in outcome.message
    assert EXECUTED == []


def test_reordered_steps_diverge_rather_than_replay_silently():
    def reordered(ctx):
        return [ship.execute(ctx), charge.execute(ctx)]

    history = [Step(0, "activity", "charge", {"value": "c"}), Step(1, "activity", "ship", {"value": "s"})]
    outcome = _run(reordered, history)
    assert isinstance(outcome, Diverged) and outcome.message.startswith("step 0:")


def test_code_returning_before_recorded_steps_diverges():
    def short(ctx):
        return charge.execute(ctx)

    history = [Step(0, "activity", "charge", {"value": "c"}), Step(1, "event", "paid", _event("e"))]
    outcome = _run(short, history)
    assert isinstance(outcome, Diverged) and "returns before calling it" in outcome.message


def test_workflow_exception_is_failed_with_traceback_and_keeps_new_steps():
    def boom(ctx):
        charge.execute(ctx)
        raise KeyError("sku-9")

    outcome = _run(boom, [])
    assert isinstance(outcome, Failed)
    assert [s.name for s in outcome.steps] == ["charge"]
    assert (outcome.error["type"], outcome.error["message"]) == ("KeyError", "'sku-9'")
    assert "in boom" in outcome.error["traceback"]


def test_activity_error_in_history_is_raised_into_the_workflow():
    def handles(ctx):
        try:
            charge.execute(ctx)
        except ActivityError as exc:
            return [exc.error_type, exc.error_message, exc.attempts]

    error = {"type": "Declined", "message": "no funds", "attempts": 2, "traceback": "..."}
    assert _run(handles, [Step(0, "activity", "charge", {"error": error})]) == Completed(
        [], ["Declined", "no funds", 2])


def test_failing_activity_with_retries_left_suspends_on_a_retry_timer():
    def flaky_fn(ctx):
        EXECUTED.append(f"attempt {ctx.attempt}")
        raise ConnectionError("down")

    flaky = _activity("flaky", flaky_fn, RetryPolicy(max_attempts=4, initial_interval=2, backoff=3))

    def calls(ctx):
        return flaky.execute(ctx)

    outcome = _run(calls, [], PlainHooks(failed={0: 2}))  # two attempts failed before
    # the failed attempt goes with the retry wait's commit; the store places its negative seq
    where = f"{__file__}:{flaky_fn.__code__.co_firstlineno + 2}"
    failed = {"type": "ConnectionError", "message": "down", "where": where}
    assert outcome == Suspended([attempt_step(0, "flaky", 3, failed, NOW)],
                                Wait("retry", 0, wake_at=NOW + 2 * 3 ** 2, attempt=3))
    assert EXECUTED == ["attempt 3"]

    outcome = _run(calls, [], PlainHooks(failed={0: 3}))  # last attempt
    assert isinstance(outcome, Failed) and outcome.error["type"] == "ActivityError"
    assert outcome.steps[0].result["error"]["attempts"] == 4


def test_now_and_uuid4_come_from_history_when_recorded():
    def stamps(ctx):
        # is_replaying: True while recorded steps remain ahead of the code, then False.
        return [ctx.now().timestamp(), ctx.is_replaying, str(ctx.uuid4()), ctx.is_replaying, ctx.now().timestamp()]

    history = [Step(0, "now", "now", 42.0), Step(1, "uuid4", "uuid4", "12345678-1234-4234-8234-123456789abc")]
    outcome = _run(stamps, history)
    assert outcome.output == [42.0, True, "12345678-1234-4234-8234-123456789abc", False, NOW]
    assert [(s.seq, s.kind, s.result) for s in outcome.steps] == [(2, "now", NOW)]


def test_suspension_cannot_be_swallowed_by_except_exception():
    def greedy(ctx):
        try:
            wait_event(ctx, "paid")
        except Exception:  # noqa: BLE001
            return "swallowed"
        return "done"

    assert isinstance(_run(greedy, []), Suspended)


def test_async_workflow_replays_the_same_way():
    async def async_pay(ctx):
        charged = await charge.execute(ctx)
        event = await wait_event(ctx, "paid")
        await asyncio.sleep(0)
        return [charged, event.id]

    assert _run(async_pay, [Step(0, "activity", "charge", {"value": "c"}), Step(1, "event", "paid", _event("e"))]) \
        == Completed([], ["c", "e"])
    assert _run(async_pay, [Step(0, "activity", "charge", {"value": "c"})]) == Suspended(
        [], Wait("event", 1, "paid", None, None))


def test_arguments_are_converted_by_type_hints():
    def typed(ctx, count: int, names: list[str]) -> int:
        return count * len(names)

    outcome, _ = replay.run(WorkflowDefinition("typed", typed), "wf-1", [3], {"names": ["a", "b"]}, [], PlainHooks())
    assert outcome == Completed([], 6)


def test_unserialisable_result_fails_without_traceback_noise():
    outcome = _run(lambda ctx: object(), [])
    assert isinstance(outcome, Failed) and outcome.error["type"] == "TypeError"

"""App.check_replay (`replay --check`) on a real SQLite file: its verdict for each kind of wait,
async workflows and patches matches what a resume then does."""

from __future__ import annotations

from romancy_cli import Registry, activity, sleep, wait_event, workflow

registry = Registry()

CALLS: list[str] = []


@activity("step_a", registry=registry)
def step_a(ctx) -> str:
    CALLS.append("a")
    return "a"


@activity("step_b", registry=registry)
async def step_b(ctx) -> str:
    CALLS.append("b")
    return "b"


def _misfits(app) -> list[tuple]:
    _, misfits = app.check_replay()
    return [(m.instance.instance_id, m.step, m.recorded, m.called) for m in misfits]


def test_a_patch_where_an_instance_waits_fits_and_the_resume_agrees(sqlite_app):
    @workflow("waits", registry=registry)
    def old(ctx) -> list:
        step_a.execute(ctx)
        wait_event(ctx, "t.check.go")
        return ["old"]

    instance_id = sqlite_app.start("waits")

    @workflow("waits", registry=registry)
    def new(ctx) -> list:
        step_a.execute(ctx)
        if ctx.patched("extra"):  # exactly where the old instance waits
            step_a.execute(ctx)
        wait_event(ctx, "t.check.go")
        return ["new"]

    CALLS.clear()
    assert sqlite_app.check_replay() == (1, [])
    assert CALLS == []
    assert sqlite_app.send_event("t.check.go").resumed == {instance_id: "completed"}
    assert sqlite_app.get(instance_id).output == ["new"] and CALLS == []  # took the old branch


def test_a_timer_wait_must_still_be_a_sleep(sqlite_app):
    @workflow("naps", registry=registry)
    def naps(ctx) -> str:
        sleep(ctx, "1h")
        return "rested"

    instance_id = sqlite_app.start("naps")

    @workflow("naps", registry=registry)
    def waits_instead(ctx) -> str:
        wait_event(ctx, "t.check.wake")
        return "woken"

    assert _misfits(sqlite_app) == [(instance_id, 0, ("timer", "sleep"), ("event", "t.check.wake"))]
    sqlite_app.tick(advance="2h")
    assert sqlite_app.get(instance_id).parked


def test_async_workflows_are_checked_too(sqlite_app):
    @workflow("async_flow", registry=registry)
    async def async_flow(ctx) -> str:
        await step_b.execute(ctx)
        await wait_event(ctx, "t.check.async")
        return "done"

    instance_id = sqlite_app.start("async_flow")
    assert sqlite_app.check_replay() == (1, [])

    @workflow("async_flow", registry=registry)
    async def returns_early(ctx) -> str:
        return "early"

    assert _misfits(sqlite_app) == [(instance_id, 0, ("activity", "step_b"), None)]
    assert CALLS == ["b"]


def test_an_instance_of_an_unregistered_workflow_does_not_fit(sqlite_app):
    @workflow("gone", registry=registry)
    def gone(ctx) -> None:
        wait_event(ctx, "t.check.gone")

    instance_id = sqlite_app.start("gone")
    del registry.workflows["gone"]
    assert _misfits(sqlite_app) == [(instance_id, None, None, None)]

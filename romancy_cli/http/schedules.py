"""GET /schedules, GET /schedules/{id} (the JSON of `romancy schedule list/describe --json`), and
POST /schedules/{id}/pause|unpause|trigger; the WSGI app routes them here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import NotFoundError
from ..views import schedule_view
from .protocol import HttpError

if TYPE_CHECKING:
    from ..app import App


def _known(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except NotFoundError as exc:
        raise HttpError(404, str(exc), "NotFound") from None


def list_schedules(app: "App") -> list[dict[str, Any]]:
    return [schedule_view(s, app.schedule_runs(s.schedule_id)) for s in app.list_schedules()]


def get_schedule(app: "App", schedule_id: str) -> dict[str, Any]:
    schedule = _known(lambda: app.get_schedule(schedule_id))
    return schedule_view(schedule, app.schedule_runs(schedule_id), app.upcoming(schedule))


def act(app: "App", schedule_id: str, action: str) -> dict[str, Any]:
    """pause, unpause: the schedule after; trigger: the slot started now (or held back)."""
    if action == "trigger":
        from ..schedule_spec import slot_text

        run = _known(lambda: app.trigger_schedule(schedule_id))
        timezone = app.get_schedule(schedule_id).timezone
        return {"slot": slot_text(run.slot, timezone), "instance_id": run.instance_id,
                "status": run.status or run.outcome}
    change = app.pause_schedule if action == "pause" else app.unpause_schedule
    _known(lambda: change(schedule_id))
    return get_schedule(app, schedule_id)

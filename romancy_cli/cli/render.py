"""Human views (rich): progress after start/send-event/tick on stderr; the instance table, one
instance with its history timeline and the workflow list on stdout. JSON shapes live in views.py."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Callable, Iterator, Optional, Sequence

from ..jsonsafe import dumps
from ..records import (ATTEMPT, RETRIED, CANCELLED, COMPENSATING, COMPLETED, CONTINUED_AS_NEW, FAILED, QUEUED, RUNNING, SEND,
                       TERMINAL, WAITING_FOR_EVENT, WAITING_FOR_TIMER, Instance, Step)
from ..schedule_spec import slot_of
from ..views import shown_status, with_attempts
from .output import Cell, esc, fits, say, show, table
from .state import state

STATUS_STYLE = {
    QUEUED: "blue", RUNNING: "yellow", COMPENSATING: "magenta", WAITING_FOR_EVENT: "cyan", WAITING_FOR_TIMER: "cyan",
    COMPLETED: "green", FAILED: "red", CANCELLED: "magenta", CONTINUED_AS_NEW: "green",
}


def status_text(instance: Instance) -> str:
    label, style = status_cell(instance)
    return f"[{style}]{esc(label)}[/]" if style else esc(label)


def status_cell(instance: Instance) -> tuple[str, str]:
    return shown_status(instance), "red" if instance.parked else STATUS_STYLE.get(instance.status, "")


def compact(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def where_text(error: Optional[dict[str, Any]]) -> str:
    """' (at workflows.py:5)': where the user's code raised, relative to here when below it."""
    where = (error or {}).get("where")
    if not where:
        return ""
    relative = os.path.relpath(where)
    return f" (at {relative if not relative.startswith('..') else where})"


def when(epoch: Optional[float]) -> str:
    """Local time, and how far from now: '14:02:11 (in 4m59s)'."""
    if epoch is None:
        return "-"
    from ..durations import describe

    moment = _local(epoch)
    if moment is None:
        return f"{epoch:g} (out of range)"
    now = state().now()
    current = _local(now)
    today = current is not None and current.date() == moment.date()
    stamp = moment.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S")
    delta = epoch - now
    if abs(delta) < 1:
        relative = "now" if delta >= 0 else "just now"
    else:
        relative = f"in {describe(delta)}" if delta >= 0 else f"{describe(-delta)} ago"
    return f"{stamp} ({relative})"


def clock_line(offset: float, now: float) -> str:
    """Where the database's virtual clock stands, when it is not the real time."""
    from ..durations import describe

    if not offset:
        return "  [dim]clock: the real time[/]"
    moment = _local(now)
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else f"{now:g}"
    side = "ahead of" if offset > 0 else "behind"
    return (f"  [yellow]clock: {esc(stamp)}, {esc(describe(abs(offset)))} {side} the real time[/] "
            "[dim](`romancy tick --reset-clock` goes back)[/]")


def _local(epoch: float) -> Optional[datetime]:
    """Local time, or None for a stored time datetime cannot show (NaN, Infinity, year 10000+)."""
    try:
        return datetime.fromtimestamp(epoch)
    except (ValueError, OverflowError, OSError):
        return None


# -- progress lines -----------------------------------------------------------------


def step_line(step: Step) -> str:
    result = step.result if isinstance(step.result, dict) else {}
    if step.kind == "activity" and "error" in result:
        error = result["error"] or {}
        return (f"  [red]✗[/] {esc(step.name)} failed: {esc(error.get('type'))}: {esc(error.get('message'))}"
                f"{esc(where_text(error))}")
    if step.kind == "activity":
        return f"  [green]✓[/] {esc(step.name)}  [dim]{esc(compact(result.get('value', step.result)))}[/]"
    if step.kind == "event" and result.get("timeout"):
        return f"  [yellow]⌛[/] {esc(step.name)} timed out"
    if step.kind == "event":
        return (f"  [green]✉[/] received {esc(result.get('type', step.name))} [dim]from {esc(result.get('source'))}"
                f"  {esc(compact(result.get('data')))}[/]")
    if step.kind == "timer":
        fired = result.get("fired_at")
        return "  [green]⏱[/] slept" + (f" [dim]until {esc(when(fired))}[/]" if isinstance(fired, (int, float)) else "")
    if step.kind == "patch":
        return f"  [dim]· took patch {esc(step.name)}[/]"
    if step.kind == SEND:
        return f"  [green]↗[/] sent {esc(step.name)} [dim]id {esc(result.get('id'))}  {esc(compact(result.get('data')))}[/]"
    if step.kind == ATTEMPT:
        error = result.get("error") or {}
        return (f"  [yellow]↻[/] attempt {esc(result.get('attempt'))} failed: {esc(error.get('type'))}: "
                f"{esc(error.get('message'))}{esc(where_text(error))}")
    if step.kind == RETRIED:
        error = result.get("error") or {}
        retried = result.get("retried_at")
        at = f", retried {when(retried)}" if isinstance(retried, (int, float)) else ""
        return (f"  [yellow]↻[/] {esc(step.name)} had failed: {esc(error.get('type'))}: {esc(error.get('message'))}"
                f"{esc(where_text(error))}{esc(at)}")
    if step.kind == "now" and isinstance(step.result, (int, float)):
        return f"  [dim]· read the clock: {esc(when(step.result))}[/]"
    if step.kind == "uuid4":
        return f"  [dim]· generated uuid {esc(step.result)}[/]"
    if step.kind == "ended":  # compensation follows: the undo activities, newest first
        return (f"  [magenta]↺[/] {esc(step.name)}: {esc(result.get('type'))}: {esc(result.get('message'))}"
                "; undoing completed activities")
    return f"  [dim]· {esc(step.kind)} {esc(compact(step.result))}[/]"


def outcome_line(instance: Instance) -> str:
    """What the instance does now: waits (and for what), finished (with what), or parked."""
    wait = instance.wait
    if instance.parked:
        message = (instance.error or {}).get("message", "")
        return f"  [red]⚠ parked[/]: {esc(message)}  [dim](fix the code, then `romancy tick`)[/]"
    if instance.status == COMPLETED:
        return f"  [green]✔ completed[/] → {esc(compact(instance.output, 200))}"
    if instance.status == CONTINUED_AS_NEW:
        return f"  [green]↻ continued as new[/] → {esc(instance.continued_as or '')}"
    if instance.status == QUEUED:
        return f"  [blue]⏳ queued[/] in {esc(instance.queue or '')}: it starts when the queue has room"
    if instance.status in (FAILED, CANCELLED, COMPENSATING):
        error = instance.error or {}
        return (f"  [red]✗ {instance.status}[/]: {esc(error.get('type', ''))}: {esc(error.get('message', ''))}"
                f"{esc(where_text(error))}")
    if instance.status == WAITING_FOR_EVENT and wait is not None:
        timeout = f" (timeout {esc(_until(wait.wake_at))})" if wait.wake_at else ""
        match = f" matching {esc(compact(wait.match))}" if wait.match else ""
        return f"  [cyan]⏸ waiting for {esc(' or '.join(wait.event_types))}[/]{match}{timeout}"
    if instance.status == WAITING_FOR_TIMER and wait is not None:
        reason = f"retry of step {wait.seq} (attempt {wait.attempt + 1})" if wait.kind == "retry" else "sleeping"
        return f"  [cyan]⏸ {reason} until {esc(when(wait.wake_at))}[/]"
    return f"  {status_text(instance)}"


def _until(epoch: Optional[float]) -> str:
    from ..durations import describe

    if epoch is not None and _local(epoch) is None:
        return when(epoch)
    left = (epoch or 0) - state().now()
    return describe(left) if left > 0 else f"overdue by {describe(-left)}"


def progress(instance: Instance, steps: Sequence[Step]) -> None:
    for step in steps:
        say(step_line(step))
    say(outcome_line(instance))


# -- status ---------------------------------------------------------------------------


INSTANCE_COLUMNS = ("INSTANCE", "WORKFLOW", "STATUS", "WAITING FOR", "UPDATED")


def instance_table(instances: Sequence[Instance], limited: bool,
                   short_ids: Callable[[Sequence[Instance]], dict[str, str]]) -> None:
    """Whole ids when the terminal has room for them (and in a pipe); else the shortest prefix
    of each that commands take (`short_ids`), so an id is never cut by the table."""
    if not instances:
        say("[dim]no instances[/]")
        return
    rows: list[list[Cell]] = [[instance.instance_id, instance.workflow, status_cell(instance),
                               waiting_text(instance), when(instance.updated_at)] for instance in instances]
    if not fits(INSTANCE_COLUMNS, rows):
        short = short_ids(instances)
        for row, instance in zip(rows, instances):
            row[0] = short[instance.instance_id]
    table(INSTANCE_COLUMNS, rows)
    if limited:
        say(f"[dim]showing the newest {len(instances)}; use --limit N for more[/]")


def waiting_text(instance: Instance) -> str:
    wait = instance.wait
    if wait is None or instance.status in TERMINAL:
        return ""
    if wait.kind == "event":
        timeout = f" (timeout {_until(wait.wake_at)})" if wait.wake_at else ""
        return f"{wait.step_name}{timeout}"
    label = "retry" if wait.kind == "retry" else "timer"
    return f"{label} {when(wait.wake_at)}"


def instance_detail(instance: Instance, history: Sequence[Step], verbose: int,
                    children: Sequence[Instance] = ()) -> None:
    show(f"[bold]{esc(instance.instance_id)}[/]  {status_text(instance)}")
    show(f"  workflow  {esc(instance.workflow)}")
    show(f"  input     {esc(compact(_input(instance), 200))}")
    show(f"  created   {esc(when(instance.created_at))}")
    show(f"  updated   {esc(when(instance.updated_at))}")
    scheduled = slot_of(instance.instance_id)
    if scheduled is not None:
        show(f"  schedule  {esc(scheduled[0])}, slot {esc(scheduled[1].isoformat())}")
    if instance.continued_from:
        show(f"  continued from  {esc(instance.continued_from)}")
    if instance.continued_as:
        show(f"  continued as    {esc(instance.continued_as)}")
    if instance.parent_id:
        show(f"  parent    {esc(instance.parent_id)}")
    if children:
        show("  children")
        for child in children:
            show(f"    {esc(child.instance_id)}  {esc(child.workflow)}  {status_text(child)}")
    if instance.status == COMPLETED:
        show(f"  output    {esc(compact(instance.output, 500))}")
    if instance.error:
        show(f"  error     [red]{esc(instance.error.get('type', ''))}: {esc(instance.error.get('message', ''))}[/]"
             f"{esc(where_text(instance.error))}")
        if verbose and instance.error.get("traceback"):
            show(f"[dim]{esc(instance.error['traceback'].rstrip())}[/]")
    show("  history" if history else "  history   [dim](no steps recorded)[/]")
    for step, attempts in with_attempts(history):
        show(f"  {step.seq:>3}" + step_line(step)[1:])
        for attempt in attempts:
            show("     " + step_line(attempt))
    if instance.status not in TERMINAL:
        show(outcome_line(instance))


def tree_lines(root: Instance, children: Callable[[str], Sequence[Instance]]) -> Iterator[str]:
    """`status ID --tree`: `id  workflow  status`, each child two spaces in from its parent;
    depth first, iteratively (a chain of children may be deep)."""
    stack: list[tuple[Instance, int]] = [(root, 0)]
    while stack:
        instance, depth = stack.pop()
        yield f"{'  ' * depth}{instance.instance_id}  {instance.workflow}  {shown_status(instance)}"
        stack.extend((child, depth + 1) for child in reversed(children(instance.instance_id)))


def _input(instance: Instance) -> Any:
    if instance.kwargs and instance.args:
        return {"args": instance.args, "kwargs": instance.kwargs}
    return instance.kwargs or instance.args


def workflow_table(rows: Sequence[dict[str, Any]], hint: str) -> None:
    if not rows:
        say(f"[dim]no workflows registered; {esc(hint)}[/]")
        return
    table(("WORKFLOW", "PARAMETERS", "STARTS ON", "SOURCE"),
          [[row["name"], row["signature"] or "-", ", ".join(row["start_on"]) or "-", (row["source"], "dim")]
           for row in rows])

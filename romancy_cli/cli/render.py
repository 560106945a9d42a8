"""Human views on stderr (rich): progress after start/send-event/tick, the instance table,
one instance with its history timeline, the workflow list. JSON shapes live in views.py."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Optional, Sequence

from ..jsonsafe import dumps
from ..records import (CANCELLED, COMPENSATING, COMPLETED, FAILED, RUNNING, TERMINAL, WAITING_FOR_EVENT,
                       WAITING_FOR_TIMER, Instance, Step)
from .output import esc, say

STATUS_STYLE = {
    RUNNING: "yellow", COMPENSATING: "magenta", WAITING_FOR_EVENT: "cyan", WAITING_FOR_TIMER: "cyan",
    COMPLETED: "green", FAILED: "red", CANCELLED: "magenta",
}


def status_text(instance: Instance) -> str:
    label = "parked" if instance.parked else instance.status
    style = "red" if instance.parked else STATUS_STYLE.get(instance.status, "")
    return f"[{style}]{esc(label)}[/]" if style else esc(label)


def compact(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(epoch: Optional[float]) -> str:
    """Local time, and how far from now: '14:02:11 (in 4m59s)'."""
    if epoch is None:
        return "-"
    from ..durations import describe

    moment = _local(epoch)
    if moment is None:
        return f"{epoch:g} (out of range)"
    today = datetime.now().date() == moment.date()
    stamp = moment.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S")
    delta = epoch - time.time()
    if abs(delta) < 1:
        relative = "now" if delta >= 0 else "just now"
    else:
        relative = f"in {describe(delta)}" if delta >= 0 else f"{describe(-delta)} ago"
    return f"{stamp} ({relative})"


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
        return f"  [red]✗[/] {esc(step.name)} failed: {esc(error.get('type'))}: {esc(error.get('message'))}"
    if step.kind == "activity":
        return f"  [green]✓[/] {esc(step.name)}  [dim]{esc(compact(result.get('value', step.result)))}[/]"
    if step.kind == "event" and result.get("timeout"):
        return f"  [yellow]⌛[/] {esc(step.name)} timed out"
    if step.kind == "event":
        return (f"  [green]✉[/] received {esc(step.name)} [dim]from {esc(result.get('source'))}"
                f"  {esc(compact(result.get('data')))}[/]")
    if step.kind == "timer":
        return "  [green]⏱[/] slept"
    if step.kind == "patch":
        return f"  [dim]· took patch {esc(step.name)}[/]"
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
    if instance.status in (FAILED, CANCELLED, COMPENSATING):
        error = instance.error or {}
        return f"  [red]✗ {instance.status}[/]: {esc(error.get('type', ''))}: {esc(error.get('message', ''))}"
    if instance.status == WAITING_FOR_EVENT and wait is not None:
        timeout = f" (timeout {esc(_until(wait.wake_at))})" if wait.wake_at else ""
        match = f" matching {esc(compact(wait.match))}" if wait.match else ""
        return f"  [cyan]⏸ waiting for {esc(wait.event_type)}[/]{match}{timeout}"
    if instance.status == WAITING_FOR_TIMER and wait is not None:
        reason = f"retry of step {wait.seq} (attempt {wait.attempt + 1})" if wait.kind == "retry" else "sleeping"
        return f"  [cyan]⏸ {reason} until {esc(when(wait.wake_at))}[/]"
    return f"  {status_text(instance)}"


def _until(epoch: Optional[float]) -> str:
    from ..durations import describe

    if epoch is not None and _local(epoch) is None:
        return when(epoch)
    return describe(max(0.0, (epoch or 0) - time.time()))


def progress(instance: Instance, steps: Sequence[Step]) -> None:
    for step in steps:
        say(step_line(step))
    say(outcome_line(instance))


# -- status ---------------------------------------------------------------------------


def instance_table(instances: Sequence[Instance], limited: bool) -> None:
    if not instances:
        say("[dim]no instances[/]")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("INSTANCE", "WORKFLOW", "STATUS", "WAITING FOR", "UPDATED"):
        table.add_column(column, no_wrap=column != "WAITING FOR")
    for instance in instances:
        table.add_row(esc(instance.instance_id), esc(instance.workflow), status_text(instance),
                      waiting_text(instance), when(instance.updated_at))
    say(table)
    if limited:
        say(f"[dim]showing the newest {len(instances)}; use --limit N for more[/]")


def waiting_text(instance: Instance) -> str:
    wait = instance.wait
    if wait is None or instance.status in TERMINAL:
        return ""
    if wait.kind == "event":
        timeout = f" (timeout {_until(wait.wake_at)})" if wait.wake_at else ""
        return esc(f"{wait.event_type}{timeout}")
    label = "retry" if wait.kind == "retry" else "timer"
    return esc(f"{label} {when(wait.wake_at)}")


def instance_detail(instance: Instance, history: Sequence[Step], verbose: int) -> None:
    say(f"[bold]{esc(instance.instance_id)}[/]  {status_text(instance)}")
    say(f"  workflow  {esc(instance.workflow)}")
    say(f"  input     {esc(compact(_input(instance), 200))}")
    say(f"  created   {esc(when(instance.created_at))}")
    say(f"  updated   {esc(when(instance.updated_at))}")
    if instance.status == COMPLETED:
        say(f"  output    {esc(compact(instance.output, 500))}")
    if instance.error:
        say(f"  error     [red]{esc(instance.error.get('type', ''))}: {esc(instance.error.get('message', ''))}[/]")
        if verbose and instance.error.get("traceback"):
            say(f"[dim]{esc(instance.error['traceback'].rstrip())}[/]")
    say("  history" if history else "  history   [dim](no steps recorded)[/]")
    for step in history:
        say(f"  {step.seq:>3}" + step_line(step)[1:])
    if instance.status not in TERMINAL:
        say(outcome_line(instance))


def _input(instance: Instance) -> Any:
    if instance.kwargs and instance.args:
        return {"args": instance.args, "kwargs": instance.kwargs}
    return instance.kwargs or instance.args


def workflow_table(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        say("[dim]no workflows registered; check `workflows` in romancy.toml or pass --workflows[/]")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("WORKFLOW", "PARAMETERS", "SOURCE"):
        table.add_column(column)
    for row in rows:
        table.add_row(esc(row["name"]), esc(row["signature"] or "-"), f"[dim]{esc(row['source'])}[/]")
    say(table)

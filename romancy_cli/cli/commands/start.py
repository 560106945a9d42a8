"""`romancy start` (run until the instance suspends) and `romancy run` (drive it to the end)."""

import logging
import shlex
import sys
import time
from typing import Annotated, Any, List, Optional

import typer

from .. import output
from ..common import command, complete_workflow, workflow_definition
from ..exits import FAILED, INTERRUPTED
from ..inputs import read_json, workflow_arguments
from ..logs import LogFormatOption, check_format
from ..state import state, user_output

POLL_SECONDS = 0.15  # how often `run` looks for events delivered by other processes
log = logging.getLogger("romancy.run")  # the lines of `run --log-format json`

WorkflowArg = Annotated[str, typer.Argument(metavar="WORKFLOW", help="Workflow name (see `romancy workflows`).",
                                            autocompletion=complete_workflow, show_default=False)]
ArgsArg = Annotated[Optional[List[str]], typer.Argument(
    metavar="ARGS", help="Workflow arguments, converted by its type hints (JSON for "
    "dataclasses, dicts, lists). Put -- before arguments that start with a dash.", show_default=False)]
IdOption = Annotated[Optional[str], typer.Option(
    "--id", metavar="ID", help="Instance id (default: generated). An existing id starts nothing.",
    show_default=False)]
QueueOption = Annotated[Optional[str], typer.Option(
    "--queue", metavar="NAME", help="Start it in this queue (default: the workflow's): `queued` while the "
    "queue is full.", show_default=False)]
InputOption = Annotated[Optional[str], typer.Option(
    "--input", metavar="JSON|@file|-", help="Arguments as a JSON object (keywords) or array (positional).",
    show_default=False)]


def register(app: typer.Typer) -> None:
    @command(app, "start")
    def start(workflow: WorkflowArg, args: ArgsArg = None, instance_id: IdOption = None,
              input_json: InputOption = None, queue: QueueOption = None) -> None:
        """Create an instance and run it until it waits or finishes; prints its id on stdout."""
        romancy, iid, created = begin(workflow, args or [], instance_id, input_json, queue)
        instance = romancy.get(iid)
        if state().json:
            from ...views import start_view

            output.print_json(start_view(instance, created))
        else:
            output.data(iid)
            _describe_start(romancy, instance, created)
        if instance.status in ("failed", "cancelled"):
            _fail(instance)

    @command(app, "run")
    def run(workflow: WorkflowArg, args: ArgsArg = None, instance_id: IdOption = None,
            input_json: InputOption = None, log_format: LogFormatOption = "text") -> None:
        """Start and drive to completion in the foreground; prints the result JSON.

        Waits for timers and for events sent by other processes (`romancy send-event` in another
        terminal), with a live status line. Exit 0 completed, 1 failed or cancelled. Ctrl-C leaves
        the instance durable and prints the command to continue."""
        json_logs = check_format(log_format)
        if json_logs:
            state().use_json_logs()
        romancy, iid, created = begin(workflow, args or [], instance_id, input_json)
        if json_logs:
            log.info("%s %s", "started" if created else "attached to", iid,
                     extra={"instance_id": iid, "workflow": workflow})
        else:
            output.say(f"[dim]{'started' if created else 'attached to'} {output.esc(iid)}[/]")
        try:
            instance = Driver(romancy, iid, json_logs).drive()
        except KeyboardInterrupt:
            _interrupted(romancy, iid, workflow, args or [], input_json)
            raise typer.Exit(INTERRUPTED) from None
        _finish(romancy, instance)


def begin(workflow: str, texts: List[str], instance_id: Optional[str], input_json: Optional[str],
          queue: Optional[str] = None) -> Any:
    """Validate everything first (nothing is stored on bad input), then start the instance."""
    definition = workflow_definition(workflow)
    given = read_json(input_json, "--input") if input_json is not None else None
    args, kwargs = workflow_arguments(definition, texts, given)
    romancy = state().app()
    with user_output():
        iid, created = romancy.start_instance(definition, args, kwargs, instance_id, queue)
    return romancy, iid, created


def _describe_start(romancy: Any, instance: Any, created: bool) -> None:
    from ..render import outcome_line, progress

    if not created:
        output.say(f"  instance {output.esc(instance.instance_id)} already exists; nothing started")
        output.say(outcome_line(instance))
        return
    progress(instance, romancy.history(instance.instance_id))


def _fail(instance: Any) -> None:
    from ..render import where_text

    error = instance.error or {}
    if state().json_logs:
        log.error("%s %s %s: %s: %s", instance.workflow, instance.instance_id, instance.status,
                  error.get("type", "Error"), error.get("message", ""),
                  extra={"instance_id": instance.instance_id, "workflow": instance.workflow,
                         "status": instance.status})
        raise typer.Exit(FAILED)
    if state().verbose and error.get("traceback"):
        sys.stderr.write(error["traceback"])
    label = "parked (fix the code, then `romancy tick`)" if instance.parked else instance.status
    output.error(f"{instance.workflow} {instance.instance_id} {label}: "
                 f"{error.get('type', 'Error')}: {error.get('message', '')}{where_text(error)}")
    raise typer.Exit(FAILED)


def _finish(romancy: Any, instance: Any) -> None:
    from ...views import instance_view

    if state().json:
        output.print_json(instance_view(instance, romancy.history(instance.instance_id)))
    elif instance.status == "completed":
        output.print_json(instance.output)
    if instance.status != "completed":
        _fail(instance)


def _interrupted(romancy: Any, iid: str, workflow: str, args: List[str], input_json: Optional[str]) -> None:
    try:
        status = romancy.get(iid).status
    except Exception:
        status = "unknown"
    again = ["romancy", "run", workflow, *args, "--id", iid]
    if input_json is not None:
        again += ["--input", input_json]
    sys.stderr.write(
        f"\ninterrupted: {iid} is durable ({status}); continue with `{shlex.join(again)}`, "
        f"or let `romancy tick` drive it and check it with `romancy status {iid}`\n")


class Driver:
    """Drives one instance in the foreground: sleeps until its timer is due and ticks, resumes it
    when another process made it runnable, and polls for events delivered by other processes."""

    def __init__(self, romancy: Any, iid: str, json_logs: bool = False) -> None:
        self.romancy, self.iid, self.json_logs = romancy, iid, json_logs
        self.shown = 0  # history steps already printed
        self.last: Any = None
        self.retried_parked = False
        self.started = time.monotonic()

    def drive(self) -> Any:
        instance = self.romancy.get(self.iid)
        with _status_line(not self.json_logs) as line:
            while True:
                self._report(instance)
                if instance.status in ("completed", "failed", "cancelled"):
                    return instance
                if instance.parked and self.retried_parked:
                    return instance  # the same code would park it again: stop and say so
                self._step(instance)
                instance = self.romancy.get(self.iid)
                line(self._line(instance))

    def _step(self, instance: Any) -> None:
        """One move: run it if runnable, fire its timer if due, otherwise wait a little."""
        wake = instance.wait.wake_at if instance.wait is not None else None
        now = self.romancy.now()
        with user_output():
            if instance.status == "running":
                self.retried_parked = self.retried_parked or instance.parked
                if self.romancy.resume(self.iid) is not None:
                    return
            elif wake is not None and wake <= now:
                self.romancy.tick()
                return
        time.sleep(POLL_SECONDS if wake is None else max(0.0, min(POLL_SECONDS, wake - now)))

    def _report(self, instance: Any) -> None:
        """Print steps recorded since the last look, and the new state when it changed."""
        key = (instance.status, instance.updated_at, instance.parked)
        if key == self.last:
            return
        self.last = key
        from ..render import outcome_line, step_line

        history = self.romancy.history(self.iid)
        for step in history[self.shown:]:
            if self.json_logs:
                _log_step(instance, step)
            else:
                output.say(step_line(step))
        self.shown = len(history)
        if instance.status != "running" or instance.parked:
            if self.json_logs:
                log.info("%s", _plain(outcome_line(instance)), extra={
                    "instance_id": instance.instance_id, "workflow": instance.workflow,
                    "status": "parked" if instance.parked else instance.status})
            else:
                output.say(outcome_line(instance))

    def _line(self, instance: Any) -> str:
        from ..render import outcome_line

        elapsed = time.monotonic() - self.started
        return f"{outcome_line(instance).strip()}  [dim]{elapsed:.0f}s · Ctrl-C leaves it durable[/]"


def _plain(line: str) -> str:
    """A progress line without its rich markup."""
    from rich.text import Text

    return Text.from_markup(line).plain.strip()


def _log_step(instance: Any, step: Any) -> None:
    from ..render import step_line

    fields = {"instance_id": instance.instance_id, "workflow": instance.workflow, "kind": step.kind,
              "step": step.name}
    if step.kind == "event" and isinstance(step.result, dict) and "type" in step.result:
        fields["event_type"] = step.result["type"]
    log.info("%s", _plain(step_line(step)), extra=fields)


class _status_line:
    """A live spinner line on a terminal (unless `live` is False); nothing (progress lines only)
    in a pipe."""

    def __init__(self, live: bool = True) -> None:
        self.live = live

    def __enter__(self) -> Any:
        self.status = None
        if self.live and sys.stderr.isatty():
            self.status = output.console().status("starting…")
            self.status.__enter__()
        return self.update

    def update(self, text: str) -> None:
        if self.status is not None:
            self.status.update(text)

    def __exit__(self, *exc: Any) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)

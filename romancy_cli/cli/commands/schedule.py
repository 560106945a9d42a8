"""`romancy schedule VERB`: create, update, delete, pause, unpause, trigger, backfill, list and
describe schedules (Temporal's verbs). Unknown id: exit 3; a bad setting: exit 2 naming it."""

from typing import Annotated, Any, List, Optional

import typer

from ...errors import NotFoundError, UsageError
from .. import output
from ..common import command, workflow_definition
from ..state import state

ScheduleId = Annotated[str, typer.Argument(metavar="ID", help="The schedule's id (its instances are ID@SLOT).",
                                           show_default=False)]
Workflow = Annotated[Optional[str], typer.Option("--workflow", metavar="W", help="The workflow each slot starts.",
                                                 show_default=False)]
Cron = Annotated[Optional[List[str]], typer.Option(
    "--cron", metavar="EXPR", help="Cron expression (5 fields, or 6 with seconds first); repeatable.",
    show_default=False)]
Every = Annotated[Optional[str], typer.Option("--every", metavar="D", help="Fixed interval instead of cron "
                                              "(e.g. 15m), counted from the Unix epoch.", show_default=False)]
Input = Annotated[Optional[str], typer.Option("--input", metavar="JSON", help="Keyword arguments of each run: a "
                                              "JSON object, @file or - for stdin.", show_default=False)]
Timezone = Annotated[Optional[str], typer.Option("--timezone", metavar="TZ", help="IANA timezone of the cron "
                                                 "fields (default UTC).", show_default=False)]
Overlap = Annotated[Optional[str], typer.Option("--overlap", metavar="POLICY", help="skip (default), buffer_one "
                                                "or allow_all: what a slot does while the previous run goes on.",
                                                show_default=False)]
Catchup = Annotated[Optional[str], typer.Option("--catchup-window", metavar="D", help="Missed slots younger "
                                                "than D still run (default 60s).", show_default=False)]
Jitter = Annotated[Optional[str], typer.Option("--jitter", metavar="D", help="Delay each slot by up to D "
                                               "(the same delay on every worker).", show_default=False)]
Note = Annotated[Optional[str], typer.Option("--note", metavar="TEXT", help="A note shown with the schedule.",
                                             show_default=False)]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Start a workflow on a cron or interval schedule, one instance per slot.",
                        no_args_is_help=True)
    app.add_typer(group, name="schedule")

    @command(group, "create")
    def create(schedule_id: ScheduleId, workflow: Workflow = None, cron: Cron = None, every: Every = None,
               input: Input = None, timezone: Timezone = None, overlap: Overlap = None,
               catchup_window: Catchup = None, jitter: Jitter = None, note: Note = None) -> None:
        """Create schedule ID: each slot of --cron (or --every) starts workflow --workflow with
        --input, its id ID@SLOT. An existing ID is exit 2 (use `update`)."""
        if workflow is None:
            raise UsageError("schedule create needs --workflow W: the workflow each slot starts")
        workflow_definition(workflow)
        settings = {k: v for k, v in dict(catchup_window=catchup_window, jitter=jitter).items() if v is not None}
        created = _app(create=True).create_schedule(schedule_id, workflow, cron=cron or None, every=every,
                                         input=_input(input), timezone=timezone, overlap=overlap or "skip",
                                         note=note, **settings)
        _answer(created, f"created schedule {schedule_id}")

    @command(group, "update")
    def update(schedule_id: ScheduleId, workflow: Workflow = None, cron: Cron = None, every: Every = None,
               input: Input = None, timezone: Timezone = None, overlap: Overlap = None,
               catchup_window: Catchup = None, jitter: Jitter = None, note: Note = None) -> None:
        """Change the settings given of schedule ID; a new --cron, --every, --timezone or --jitter
        moves its next slot to the first after now."""
        if workflow is not None:
            workflow_definition(workflow)
        romancy = _app()
        if any(v is not None for v in (workflow, cron, every, timezone)):
            _not_declared(romancy, schedule_id, "its workflow, --cron, --every and --timezone follow "
                          "the decorator: change them there")
        changes: dict[str, Any] = dict(workflow=workflow, cron=cron or None, every=every, input=_input(input),
                                       timezone=timezone, overlap=overlap, catchup_window=catchup_window,
                                       jitter=jitter)
        if note is not None:
            changes["note"] = note
        _answer(romancy.update_schedule(schedule_id, **changes), f"updated schedule {schedule_id}")

    @command(group, "delete")
    def delete(schedule_id: ScheduleId) -> None:
        """Delete schedule ID; the instances it started stay. A schedule declared in code is
        deleted by removing its declaration."""
        romancy = _app()
        _not_declared(romancy, schedule_id, "remove schedule=/every= from its @workflow instead")
        romancy.delete_schedule(schedule_id)
        if state().json:
            output.print_json({"schedule_id": schedule_id, "deleted": True})
        else:
            output.say(f"  deleted schedule {output.esc(schedule_id)}")

    @command(group, "pause")
    def pause(schedule_id: ScheduleId, note: Note = None) -> None:
        """Start nothing from schedule ID until `unpause`."""
        _answer(_app().pause_schedule(schedule_id, note), f"paused schedule {schedule_id}")

    @command(group, "unpause")
    def unpause(schedule_id: ScheduleId) -> None:
        """Fire schedule ID again; slots missed while paused run only within its catch-up window."""
        _answer(_app().unpause_schedule(schedule_id), f"unpaused schedule {schedule_id}")

    @command(group, "trigger")
    def trigger(schedule_id: ScheduleId) -> None:
        """Start one run of schedule ID now (its slot: this moment), unless the overlap policy
        holds it back; prints the instance id."""
        _runs([_app().trigger_schedule(schedule_id)], schedule_id, single=True)

    @command(group, "backfill")
    def backfill(schedule_id: ScheduleId,
                 start: Annotated[str, typer.Option("--start", metavar="T", help="First time (RFC 3339).",
                                                    show_default=False)],
                 end: Annotated[str, typer.Option("--end", metavar="T", help="Last time (RFC 3339), included.",
                                                  show_default=False)]) -> None:
        """Run each slot of schedule ID from --start to --end, in order, the overlap policy
        applying; slots that have their instance already are left as they are."""
        from ..inputs import timestamp

        first, last = timestamp(start, "--start"), timestamp(end, "--end")
        _runs(_app().backfill_schedule(schedule_id, first, last), schedule_id, single=False)

    @command(group, "list")
    def list_(jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per schedule per line.")]
              = False) -> None:
        """List the schedules: id, workflow, spec, next fire time, state."""
        cli = state()
        cli.load_workflows()
        romancy = None if cli.database_missing() and not cli.declares_schedules() else cli.app()
        schedules = romancy.list_schedules() if romancy else []
        if jsonl or cli.json:
            from ...views import schedule_view

            views = [schedule_view(s, romancy.schedule_runs(s.schedule_id)) for s in schedules]  # type: ignore
            output.print_jsonl(views) if jsonl else output.print_json(views)
            return
        if not schedules:
            output.say("[dim]no schedules; `romancy schedule create` makes one[/]")
            return
        from ..render import when

        output.table(("ID", "WORKFLOW", "SPEC", "TIMEZONE", "NEXT", "STATE", "SOURCE"),
                     [(s.schedule_id, s.workflow, _spec(s.spec), s.timezone,
                       "" if s.paused or s.due_at is None else when(s.due_at),
                       "paused" if s.paused else "active", s.source) for s in schedules])

    @command(group, "describe")
    def describe(schedule_id: ScheduleId) -> None:
        """Schedule ID: its settings, its next 5 slots and its recent ones."""
        romancy = _app()
        schedule = romancy.get_schedule(schedule_id)
        from ...views import schedule_view

        view = schedule_view(schedule, romancy.schedule_runs(schedule_id), romancy.upcoming(schedule))
        if state().json:
            output.print_json(view)
        else:
            _detail(view)


def _app(create: bool = False) -> Any:
    """The App, the workflow modules loaded (code schedules in step); only `create` makes the database."""
    cli = state()
    cli.load_workflows()
    if not create and cli.database_missing() and not cli.declares_schedules():
        raise NotFoundError(f"no schedules: database {cli.settings.database} does not exist yet")
    return cli.app()


def _not_declared(romancy: Any, schedule_id: str, instead: str) -> None:
    """A schedule declared in code follows its decorator: the next command that loads the
    modules would undo such a change."""
    if romancy.get_schedule(schedule_id).source == "code":
        raise UsageError(f"schedule {schedule_id} is declared in code (@workflow({schedule_id!r}, ...)); {instead}")


def _input(text: Optional[str]) -> Optional[dict[str, Any]]:
    if text is None:
        return None
    from ..inputs import read_json

    value = read_json(text, "--input")
    if not isinstance(value, dict):
        raise UsageError(f"--input must be a JSON object of keyword arguments, got {output.dumps(value)}")
    return value


def _spec(spec: dict[str, Any]) -> str:
    return f"every {spec['every']}" if "every" in spec else " | ".join(spec["cron"])


def _answer(schedule: Any, done: str) -> None:
    from ...views import schedule_view

    if state().json:
        output.print_json(schedule_view(schedule, []))
        return
    from ..render import when

    output.data(schedule.schedule_id)
    nxt = "paused" if schedule.paused else f"next slot {when(schedule.due_at)}" if schedule.due_at else "no next slot"
    output.say(f"  {output.esc(done)}: {output.esc(nxt)}")


def _runs(runs: list, schedule_id: str, single: bool) -> None:
    """trigger (single: one object) and backfill (a list): each slot, its instance and status."""
    from ...schedule_spec import slot_text

    timezone = state().app().get_schedule(schedule_id).timezone
    rows = [{"slot": slot_text(r.slot, timezone), "instance_id": r.instance_id, "status": r.status or r.outcome}
            for r in runs]
    if state().json:
        output.print_json(rows[0] if single else rows)
        return
    for row in rows:
        if row["instance_id"]:
            output.data(row["instance_id"])
        output.say(f"  {output.esc(row['slot'])} → {output.esc(row['status'])}"
                   + ("" if row["instance_id"] else " (the previous run has not ended: overlap policy)"))


def _detail(view: dict[str, Any]) -> None:
    esc = output.esc
    output.show(f"[bold]{esc(view['schedule_id'])}[/]  {'paused' if view['paused'] else 'active'} ({view['source']})")
    for label, key in (("workflow", "workflow"), ("timezone", "timezone"), ("overlap", "overlap"),
                       ("catch-up", "catchup_window"), ("jitter", "jitter"), ("next", "next_fire_at"),
                       ("last", "last_fired_at"), ("note", "note")):
        if view[key] not in (None, ""):
            output.show(f"  {label:<9} {esc(view[key])}")
    output.show(f"  spec      {esc(_spec(view['spec']))}")
    if view["input"]:
        output.show(f"  input     {esc(output.dumps(view['input'], pretty=False))}")
    output.show("  upcoming  " + esc(", ".join(view["upcoming"]) or "none"))
    output.show("  recent" if view["recent"] else "  recent    [dim](no slot handled yet)[/]")
    for run in view["recent"]:
        output.show(f"    {esc(run['slot'])}  {esc(run['status'])}  {esc(run['instance_id'] or '')}")

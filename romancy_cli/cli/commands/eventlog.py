"""`romancy events`: the stored events, newest first, and which instance consumed each."""

from typing import Annotated, Optional

import typer

from .. import output
from ..common import command
from ..inputs import duration
from ..state import state

DEFAULT_TABLE_LIMIT = 50


def register(app: typer.Typer) -> None:
    @command(app, "events")
    def events(
        event_type: Annotated[Optional[str], typer.Option("--type", metavar="T", help="Only events of this type.",
                                                          show_default=False)] = None,
        since: Annotated[Optional[str], typer.Option(
            "--since", metavar="D", help="Only events received within D (e.g. 1h, 2d).", show_default=False)] = None,
        unconsumed: Annotated[bool, typer.Option("--unconsumed", help="Only events no instance consumed.")] = False,
        limit: Annotated[Optional[int], typer.Option(
            "--limit", metavar="N", min=1, help=f"At most N events, newest first (table default "
            f"{DEFAULT_TABLE_LIMIT}; --json and --jsonl default all).", show_default=False)] = None,
        jsonl: Annotated[bool, typer.Option(
            "--jsonl", help="The list as JSON Lines: one event object per line.")] = False,
    ) -> None:
        """List stored events: received time, type, source, id, subject, and the instances that
        consumed each (none: no wait took it; `romancy status ID` says why not).

        `--json` prints an array of the public event shape, `--jsonl` one object per line. The
        table goes to stdout, plain in a pipe."""
        seconds = duration(since, "--since")
        cli = state()
        machine = cli.json or jsonl
        if cli.database_missing():
            found = []
        else:
            cutoff = None if seconds is None else cli.app().now() - seconds
            table_limit = DEFAULT_TABLE_LIMIT + 1 if limit is None and not machine else limit
            found = cli.app().list_events(event_type, cutoff, unconsumed, table_limit)
        if machine:
            from ...views import event_view

            views = [event_view(e) for e in found]
            if jsonl:
                output.print_jsonl(views)
            else:
                output.print_json(views)
            return
        _table(found[:DEFAULT_TABLE_LIMIT] if limit is None else found, limit is None and len(found) > DEFAULT_TABLE_LIMIT)


def _table(found: list, limited: bool) -> None:
    if not found:
        output.say("[dim]no events[/]")
        return
    from ..render import when

    rows: list[list[output.Cell]] = []
    for logged in found:
        event = logged.event
        consumers: output.Cell = ", ".join(logged.consumed_by) if logged.consumed_by else ("none", "dim")
        rows.append([when(event.received_at), event.type, event.source, event.id, event.subject or "", consumers])
    output.table(("RECEIVED", "TYPE", "SOURCE", "ID", "SUBJECT", "CONSUMED BY"), rows)
    if limited:
        output.say(f"[dim]showing the newest {len(found)}; use --limit N for more[/]")

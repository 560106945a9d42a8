"""`romancy outbox`: the events workflows published with a relay target, and how relaying each
went; `romancy outbox retry ID` requeues a failed one."""

from typing import Annotated, Optional

import typer

from ...errors import NotFoundError, UsageError
from ...records import OUTBOX_STATUSES
from .. import output
from ..common import command
from ..state import state


def register(app: typer.Typer) -> None:
    @command(app, "outbox")
    def outbox(
        action: Annotated[Optional[str], typer.Argument(
            metavar="[retry ID]", help="`retry ID`: relay failed event ID again, with all its attempts ahead.",
            show_default=False)] = None,
        event_id: Annotated[Optional[str], typer.Argument(metavar="", show_default=False, hidden=True)] = None,
        status: Annotated[Optional[str], typer.Option(
            "--status", metavar="S", help="Only entries in status S: pending, sent or failed.",
            show_default=False)] = None,
    ) -> None:
        """List the events workflows published with a relay target (`send_event(..., to=URL)` or
        `[outbox] url`), oldest first: type, source, id, target, status, attempts, last error and
        next attempt. `outbox retry ID` requeues a failed one: exit 3 unknown, 1 not failed."""
        if action is None:
            _list(status)
        elif action == "retry" and event_id and status is None:
            _retry(event_id)
        else:
            raise UsageError("usage: `romancy outbox [--status S]` or `romancy outbox retry ID`")


def _list(status: Optional[str]) -> None:
    if status is not None and status not in OUTBOX_STATUSES:
        raise UsageError(f"--status must be one of {', '.join(OUTBOX_STATUSES)}, got {status!r}")
    cli = state()
    items = [] if cli.database_missing() else cli.app().list_outbox(status)
    if cli.json:
        from ...views import outbox_view

        output.print_json([outbox_view(item) for item in items])
        return
    if not items:
        output.say("[dim]nothing in the outbox[/]")
        return
    from ..render import when

    output.table(("ID", "TYPE", "TARGET", "STATUS", "ATTEMPTS", "LAST ERROR", "NEXT ATTEMPT"),
                 [(item.event.id, item.event.type, item.target, item.status, str(item.attempts),
                   item.last_error or "", when(item.next_attempt_at) if item.next_attempt_at else "")
                  for item in items])


def _retry(event_id: str) -> None:
    cli = state()
    if cli.database_missing():
        raise NotFoundError(f"no event {event_id!r} in the outbox; `romancy outbox` lists them")
    requeued = cli.app().retry_outbox(event_id)
    if cli.json:
        output.print_json({"event_id": event_id, "requeued": requeued})
    else:
        output.say(f"  requeued {output.esc(event_id)}: `romancy serve` or `romancy tick` relays it")

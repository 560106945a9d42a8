"""`romancy cancel`: cancel a non-terminal instance, or many (`--workflow`, `--status`)."""

from typing import Annotated, Optional

import typer

from .. import output
from ..common import command, complete_instance, complete_status, get_instance
from ..state import state

CANCELLABLE = ("running", "compensating", "waiting_for_event", "waiting_for_timer", "parked")


def register(app: typer.Typer) -> None:
    @command(app, "cancel")
    def cancel(
        instance_id: Annotated[Optional[str], typer.Argument(metavar="INSTANCE_ID", autocompletion=complete_instance,
                                                             show_default=False)] = None,
        reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Recorded as the error message.")]
        = "cancelled by user",
        workflow: Annotated[Optional[str], typer.Option(
            "--workflow", metavar="W", help="Cancel every non-terminal instance of W.", show_default=False)] = None,
        status: Annotated[Optional[str], typer.Option(
            "--status", metavar="S", help="Cancel every instance with status S (e.g. waiting_for_event).",
            autocompletion=complete_status, show_default=False)] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before cancelling many.")] = False,
    ) -> None:
        """Cancel a running or waiting instance (its history is kept); one with completed
        activities that declare an undo is compensated first.

        With `--workflow` and/or `--status` instead of an id: every matching instance, each in
        its own transaction, after saying how many (asked on a terminal, `--yes` in scripts);
        one summary line, or with `--json` one result per instance."""
        from .. import bulk

        if bulk.check_target(instance_id, workflow, status, "cancel"):
            bulk.check_status(status, CANCELLABLE, "cancelled")
            state().load_workflows()  # which completed activities declare an undo (see Engine.cancel)
            found = bulk.select(workflow, status, CANCELLABLE)
            bulk.confirm("cancel", found, workflow, status, yes)
            bulk.report("cancelled", bulk.apply(found, lambda i: state().app().cancel(i.instance_id, reason).status))
            return
        before = get_instance(instance_id or "")
        instance_id = before.instance_id  # the whole id of a prefix
        state().load_workflows()  # which completed activities declare an undo (see Engine.cancel)
        instance = state().app().cancel(instance_id, reason)
        if state().json:
            from ...views import instance_view

            output.print_json(instance_view(instance))
        elif instance.status == "compensating":
            output.say(f"  compensating {output.esc(instance_id)} (was {output.esc(before.status)}): "
                       "`romancy tick` or `serve` undoes its completed activities, then it is cancelled")
        else:
            output.say(f"  cancelled {output.esc(instance_id)} (was {output.esc(before.status)})")

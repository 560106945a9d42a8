"""`romancy cancel`: cancel a non-terminal instance."""

from typing import Annotated

import typer

from .. import output
from ..common import command, complete_instance, get_instance
from ..state import state


def register(app: typer.Typer) -> None:
    @command(app, "cancel")
    def cancel(
        instance_id: Annotated[str, typer.Argument(metavar="INSTANCE_ID", autocompletion=complete_instance,
                                                   show_default=False)],
        reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Recorded as the error message.")]
        = "cancelled by user",
    ) -> None:
        """Cancel a running or waiting instance (its history is kept); one with completed
        activities that declare an undo is compensated first."""
        before = get_instance(instance_id)
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

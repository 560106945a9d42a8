"""`romancy retry`: run a failed instance again from its failed step."""

from typing import Annotated

import typer

from .. import output
from ..common import command, complete_instance, get_instance
from ..exits import FAILED
from ..state import state, user_output


def register(app: typer.Typer) -> None:
    @command(app, "retry")
    def retry(
        instance_id: Annotated[str, typer.Argument(metavar="INSTANCE_ID", autocompletion=complete_instance,
                                                   show_default=False)],
    ) -> None:
        """Run a failed instance again from its failed step, once its code or the outside world
        is fixed. Its history is kept; the failed attempt shows in it as `retried`. Exit 0 when
        it ran (and did not fail again), 1 when it is not failed or failed again, 3 unknown id."""
        cli = state()
        # unknown: exit 3, and the database is not created to say so; a prefix: the whole id
        instance_id = get_instance(instance_id).instance_id
        cli.load_workflows()  # the retried run is workflow code
        romancy = cli.app()
        with user_output():
            status = romancy.retry(instance_id)
        instance = romancy.get(instance_id)
        if cli.json:
            from ...views import instance_view

            output.print_json(instance_view(instance, romancy.history(instance_id)))
        else:
            output.say(f"  retried {output.esc(instance_id)} → {output.esc(status or instance.status)}")
        if instance.status == "failed":
            error = instance.error or {}
            output.error(f"{instance_id} failed again: {error.get('type', 'Error')}: {error.get('message', '')}")
            raise typer.Exit(FAILED)

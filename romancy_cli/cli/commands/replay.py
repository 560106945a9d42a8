"""`romancy replay --check`: would the current code still replay the recorded histories?"""

from typing import Annotated, Any, Optional

import typer

from ...errors import NotFoundError, UsageError
from .. import output
from ..common import command, complete_instance, workflow_definition
from ..exits import FAILED
from ..state import state, user_output


def register(app: typer.Typer) -> None:
    @command(app, "replay")
    def replay(
        check: Annotated[bool, typer.Option(
            "--check", help="Replay without writing or running activities; report what would be parked.")] = False,
        workflow: Annotated[Optional[str], typer.Option(
            "--workflow", metavar="W", help="Only instances of this workflow.", show_default=False)] = None,
        instance_id: Annotated[Optional[str], typer.Option(
            "--instance", metavar="ID", autocompletion=complete_instance, help="Only this instance.",
            show_default=False)] = None,
        include_ended: Annotated[bool, typer.Option(
            "--include-ended", help="Also ended instances: completed, failed, cancelled and continued_as_new.")] = False,
    ) -> None:
        """Replay recorded histories against the current code, writing nothing and running no
        activity. Exit 1 when any instance would be parked by a NonDeterminismError, 0 otherwise."""
        if not check:
            raise UsageError("`romancy replay` only checks: add --check")
        cli = state()
        cli.sync_schedules = False  # writing nothing: not the schedules the code declares either
        if workflow is not None:
            workflow_definition(workflow)
        cli.load_workflows()
        if cli.database_missing():  # nothing recorded: open no database, create no file
            if instance_id is not None:
                raise NotFoundError(f"no instance {instance_id!r}; `romancy status` lists instances")
            _report(0, [])
            return
        if instance_id is not None:
            instance_id = cli.app().find(instance_id).instance_id  # a prefix: the whole id
        from ..progress import Reported

        progress = Reported("checking instances")
        try:
            with user_output():  # workflow code that prints while it replays writes to stderr
                checked, misfits = cli.app().check_replay(workflow, instance_id, include_ended, progress)
        finally:
            progress.close()
        _report(checked, misfits)
        if misfits:
            raise typer.Exit(FAILED)


def _report(checked: int, misfits: list[Any]) -> None:
    if state().json:
        from ...views import check_view

        output.print_json(check_view(checked, misfits))
        return
    plural = "" if checked == 1 else "s"
    if not misfits:
        output.say(f"  checked {checked} instance{plural}: all fit the current code")
        return
    output.say(f"  checked {checked} instance{plural}: {len(misfits)} would be parked")
    for misfit in misfits:
        instance = misfit.instance
        output.say(f"    {output.esc(instance.instance_id)} ({output.esc(instance.workflow)}, "
                   f"{output.esc(instance.status)}): {output.esc(misfit.message)}")

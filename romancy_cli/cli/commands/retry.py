"""`romancy retry`: run a failed instance again from its failed step, or many (`--workflow`)."""

from typing import Annotated, Optional

import typer

from .. import output
from ..common import command, complete_instance, get_instance
from ..exits import FAILED
from ..state import state, user_output


def register(app: typer.Typer) -> None:
    @command(app, "retry")
    def retry(
        instance_id: Annotated[Optional[str], typer.Argument(metavar="INSTANCE_ID", autocompletion=complete_instance,
                                                             show_default=False)] = None,
        workflow: Annotated[Optional[str], typer.Option(
            "--workflow", metavar="W", help="Retry every failed instance of W.", show_default=False)] = None,
        status: Annotated[Optional[str], typer.Option(
            "--status", metavar="S", help="With many: only `failed` (the default) can be retried.",
            show_default=False)] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before retrying many.")] = False,
    ) -> None:
        """Run a failed instance again from its failed step, once its code or the outside world
        is fixed. Its history is kept; the failed attempt shows in it as `retried`. Exit 0 when
        it ran (and did not fail again), 1 when it is not failed or failed again, 3 unknown id.

        With `--workflow` (and/or `--status failed`) instead of an id: every failed instance that
        matches, each in its own transaction, after saying how many (asked on a terminal, `--yes`
        in scripts); one summary line, or with `--json` one result per instance; exit 1 when any
        failed again."""
        from .. import bulk

        cli = state()
        if bulk.check_target(instance_id, workflow, status, "retry"):
            bulk.check_status(status, ("failed",), "retried")
            cli.load_workflows()  # the retried runs are workflow code
            found = bulk.select(workflow, "failed", ("failed",))
            bulk.confirm("retry", found, workflow, status or "failed", yes)
            with user_output():
                results = bulk.apply(found, lambda i: _retry(i.instance_id))
            bulk.report("retried", results)
            if any(r["status"] == "failed" for r in results):
                raise typer.Exit(FAILED)
            return
        # unknown: exit 3, and the database is not created to say so; a prefix: the whole id
        instance_id = get_instance(instance_id or "").instance_id
        cli.load_workflows()  # the retried run is workflow code
        romancy = cli.app()
        with user_output():
            status_after = romancy.retry(instance_id)
        instance = romancy.get(instance_id)
        if cli.json:
            from ...views import instance_view

            output.print_json(instance_view(instance, romancy.history(instance_id)))
        else:
            output.say(f"  retried {output.esc(instance_id)} → {output.esc(status_after or instance.status)}")
        if instance.status == "failed":
            error = instance.error or {}
            output.error(f"{instance_id} failed again: {error.get('type', 'Error')}: {error.get('message', '')}")
            raise typer.Exit(FAILED)


def _retry(instance_id: str) -> str:
    """Its status after the retried run (another worker may have taken it: its status now)."""
    romancy = state().app()
    return romancy.retry(instance_id) or romancy.get(instance_id).status

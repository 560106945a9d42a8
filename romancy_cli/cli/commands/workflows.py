"""`romancy workflows`: the registered workflows, their parameters and where they come from."""

from typing import Annotated

import typer

from .. import output
from ..common import command
from ..state import state


def register(app: typer.Typer) -> None:
    @command(app, "workflows")
    def workflows(
        jsonl: Annotated[bool, typer.Option(
            "--jsonl", help="One JSON object per workflow per line.")] = False,
    ) -> None:
        """List the workflows in the configured modules with their parameters (a table on stdout,
        plain in a pipe)."""
        from ...definitions import REGISTRY
        from ...loader import workflow_source
        from ...views import workflow_view

        state().load_workflows()
        rows = [workflow_view(d, workflow_source(d.fn)) for _, d in sorted(REGISTRY.workflows.items())]
        if jsonl:
            output.print_jsonl(rows)
        elif state().json:
            output.print_json(rows)
        else:
            from ..render import workflow_table

            workflow_table(rows, state().workflows_hint())

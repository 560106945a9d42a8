"""`romancy queues`: the declared queues, their limits, and how many instances each holds."""

import typer

from .. import output
from ..common import command
from ..state import state


def register(app: typer.Typer) -> None:
    @command(app, "queues")
    def queues() -> None:
        """List the queues declared in romancy.toml ([queues.NAME]) and in code (Queue): limits,
        instances queued and running, the oldest queued (a table on stdout, plain in a pipe)."""
        from ...views import queue_view

        state().load_workflows()  # queues declared in code live beside the workflows
        rows = [queue_view(s) for s in state().app().queue_states()]
        if state().json:
            output.print_json(rows)
            return
        if not rows:
            output.say("[dim]no queues declared; add [queues.NAME] concurrency = N to romancy.toml[/]")
            return
        output.table(("QUEUE", "CONCURRENCY", "RATE", "QUEUED", "RUNNING", "OLDEST QUEUED"),
                     [[r["queue"], str(r["concurrency"] or "-"), r["rate"] or "-", str(r["queued"]),
                       str(r["running"]), r["oldest_queued_at"] or "-"] for r in rows])

"""`romancy prune`: delete old ended instances and events, in short transactions."""

from typing import Annotated, Optional

import typer

from ...errors import UsageError
from .. import output
from ..common import command
from ..inputs import duration
from ..state import state


def register(app: typer.Typer) -> None:
    @command(app, "prune")
    def prune(
        completed_before: Annotated[Optional[str], typer.Option(
            "--completed-before", metavar="D", help="Delete instances that ended (completed, failed, cancelled, "
            "continued_as_new) more than D ago, with their history; 0s: all ended ones.", show_default=False)] = None,
        events_before: Annotated[Optional[str], typer.Option(
            "--events-before", metavar="D", help="Delete events received more than D ago; an unconsumed one "
            "is kept while an instance started before it may still take it.", show_default=False)] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")]
        = False,
    ) -> None:
        """Delete old ended instances and events, 500 rows per transaction, so that workers and
        `serve` writing the same database meanwhile are never held up for long."""
        ended = duration(completed_before, "--completed-before")
        events = duration(events_before, "--events-before")
        if ended is None and events is None:
            raise UsageError("nothing to prune: give --completed-before D and/or --events-before D (e.g. 30d, 0s)")
        cli = state()
        if cli.database_missing():
            from ...records import PruneResult

            result = PruneResult()
        else:
            now = cli.app().now()  # the database's clock: what `tick --advance` ran is not in the future
            result = cli.app().prune(_before(now, ended), _before(now, events), dry_run)
        if cli.json:
            from ...views import prune_view

            output.print_json(prune_view(result, dry_run))
            return
        verb = "would remove" if dry_run else "removed"
        output.say(f"  {verb} {result.instances} instance(s) with {result.steps} step(s), {result.events} event(s)")


def _before(now: float, age: Optional[float]) -> Optional[float]:
    """The cut-off of an age; `0s` is "all of them", also those stamped later than now (run on a
    clock moved on and set back since)."""
    if age is None:
        return None
    from ...durations import MAX_EPOCH

    return MAX_EPOCH if age == 0 else now - age

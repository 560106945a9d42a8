"""`romancy prune`: delete old ended instances and events, in short transactions."""

import sys
from typing import Annotated, Any, Optional

import typer

from ...errors import UsageError
from .. import output
from ..common import command
from ..inputs import duration
from ..state import state


def _prune(romancy: Any, ended_before: Optional[float], events_before: Optional[float], dry_run: bool) -> Any:
    """Prune, with a progress bar on a terminal when over 1,000 rows go: they are counted first
    (only then: the count is a read of its own)."""
    from ..progress import bar, shown

    if dry_run or not sys.stderr.isatty() or state().json:
        return romancy.prune(ended_before, events_before, dry_run)
    counted = romancy.prune(ended_before, events_before, dry_run=True)
    total = counted.instances + counted.events
    if not shown(total):
        return romancy.prune(ended_before, events_before)
    with bar("pruning", total) as advance:
        return romancy.prune(ended_before, events_before, progress=advance)


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
            result = _prune(cli.app(), _before(now, ended), _before(now, events), dry_run)
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

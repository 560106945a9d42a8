"""`cancel` and `retry` of many instances at once (`--workflow`, `--status`): which ones, asking
first on a terminal (`--yes` in scripts), one transaction per instance, one summary line."""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from ..errors import RomancyError, UsageError
from . import output
from .exits import FAILED
from .state import state


def check_target(instance_id: Optional[str], workflow: Optional[str], status: Optional[str], command: str) -> bool:
    """True for many instances (filters given), False for one INSTANCE_ID; else a usage error."""
    many = workflow is not None or status is not None
    if instance_id is not None and many:
        raise UsageError(f"give an INSTANCE_ID or --workflow/--status, not both: romancy {command} ID, "
                         f"or romancy {command} --workflow W --status S")
    if instance_id is None and not many:
        raise UsageError(f"give an INSTANCE_ID, or --workflow W and/or --status S for many: romancy {command} ID")
    return many


def check_status(status: Optional[str], allowed: tuple[str, ...], verb: str) -> None:
    from ..records import SHOWN_STATUSES

    if status is None or status in allowed:
        return
    known = "" if status in SHOWN_STATUSES else " (not a status)"
    raise UsageError(f"invalid --status {status!r}{known}: only {', '.join(allowed)} instances can be {verb}")


def select(workflow: Optional[str], status: Optional[str], allowed: tuple[str, ...]) -> list[Any]:
    """The instances the filters match, among those in `allowed` statuses, oldest first."""
    cli = state()
    if cli.database_missing():
        return []
    statuses = [status] if status is not None else list(allowed)
    found = [i for s in statuses for i in cli.app().list_instances(s, workflow)]
    return sorted(found, key=lambda i: (i.created_at, i.instance_id))


def confirm(verb: str, instances: list[Any], workflow: Optional[str], status: Optional[str], yes: bool) -> None:
    """Say how many it will touch; on a terminal ask, elsewhere require --yes (exit 2 without)."""
    what = " ".join(part for part in (f"workflow {workflow}" if workflow else "",
                                      f"status {status}" if status else "") if part)
    count = f"{len(instances)} instance{'s' if len(instances) != 1 else ''}"
    output.say(f"  {verb} {count} ({output.esc(what)})")
    if yes or not instances:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{verb} {count} needs confirmation: add --yes (no terminal to ask on)")
    import typer

    if not typer.confirm(f"  {verb} {count}?", default=False, err=True):
        output.say("  nothing changed")
        raise typer.Exit(FAILED)


def apply(instances: list[Any], act: Callable[[Any], str]) -> list[dict[str, Any]]:
    """Run `act` on each instance in turn (each its own transaction); an error of one (ended
    meanwhile, say) is its result and the others go on."""
    results = []
    for instance in instances:
        try:
            results.append({"instance_id": instance.instance_id, "status": act(instance), "error": None})
        except RomancyError as exc:
            results.append({"instance_id": instance.instance_id, "status": None, "error": str(exc)})
    return results


def report(verb: str, results: list[dict[str, Any]]) -> None:
    """`--json`: one result per instance; else a summary line, and a line per instance it skipped."""
    if state().json:
        output.print_json(results)
        return
    done = [r for r in results if r["error"] is None]
    statuses: dict[str, int] = {}
    for result in done:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    shown = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    skipped = len(results) - len(done)
    output.say(f"  {verb} {len(done)} of {len(results)}" + (f": {output.esc(shown)}" if shown else "")
               + (f"; {skipped} skipped" if skipped else ""))
    for result in results:
        if result["error"] is not None:
            output.say(f"    {output.esc(result['instance_id'])}: {output.esc(result['error'])}")

"""`romancy status`: the instance table, one instance in detail, --watch, and --wait for scripts."""

import time
from typing import Annotated, Any, NamedTuple, Optional

import typer

from ...errors import UsageError
from .. import output
from ..common import command, complete_instance, complete_status, get_instance
from ..exits import FAILED
from ..inputs import duration
from ..state import state

DEFAULT_TABLE_LIMIT = 50
MAX_LIMIT = 2**63 - 1  # the largest LIMIT a database integer holds; any more means all of them
POLL_SECONDS = 0.2
WATCH_SECONDS = 1.0


def register(app: typer.Typer) -> None:
    @command(app, "status")
    def status(
        instance_id: Annotated[Optional[str], typer.Argument(
            metavar="INSTANCE_ID", help="Show one instance with its history.", autocompletion=complete_instance,
            show_default=False)] = None,
        status_filter: Annotated[Optional[str], typer.Option(
            "--status", metavar="S", help="Only instances with this status.", autocompletion=complete_status,
            show_default=False)] = None,
        workflow: Annotated[Optional[str], typer.Option("--workflow", metavar="W", help="Only this workflow.",
                                                        show_default=False)] = None,
        search: Annotated[Optional[str], typer.Option(
            "--search", metavar="TEXT", help="Only instances whose id starts with TEXT or whose input contains "
            "it (as the page's search).", show_default=False)] = None,
        limit: Annotated[Optional[int], typer.Option(
            "--limit", metavar="N", min=1, help=f"At most N instances, newest first (table default "
            f"{DEFAULT_TABLE_LIMIT}; --json default all).", show_default=False)] = None,
        watch: Annotated[bool, typer.Option("--watch", help="Keep showing changes until Ctrl-C.")] = False,
        wait: Annotated[Optional[str], typer.Option(
            "--wait", metavar="[STATUS]", help="Block until the instance is terminal (or has STATUS); exit 0 "
            "when reached, 1 on timeout or when it ends otherwise.", show_default=False)] = None,
        timeout: Annotated[Optional[str], typer.Option(
            "--timeout", metavar="D", help="Give up --wait/--watch after D (e.g. 30s, 5m).",
            show_default=False)] = None,
        jsonl: Annotated[bool, typer.Option(
            "--jsonl", help="The list as JSON Lines: one instance object per line.")] = False,
        tree: Annotated[bool, typer.Option(
            "--tree", help="With an INSTANCE_ID: it and the children it started, theirs below them.")] = False,
    ) -> None:
        """List instances, or show one with its input, output, waits and history.

        `--json` prints the public JSON shapes (one object with an INSTANCE_ID, else an array);
        `--jsonl` the list as one object per line. The table goes to stdout, plain in a pipe.
        `--wait` only watches: timers fire when something ticks (`romancy tick`, `serve`, `run`)."""
        seconds = duration(timeout, "--timeout")
        _check(status_filter, wait, instance_id)
        limit = None if limit is None else min(limit, MAX_LIMIT)
        _say_clock()
        if search is not None and instance_id is not None:
            raise UsageError("--search lists instances: give it without an INSTANCE_ID")
        listing = Listing(status_filter, workflow, limit, search or None)
        if tree:
            _tree(instance_id)
        elif wait is not None:
            _wait(instance_id or "", wait, seconds)
        elif watch:
            _watch(instance_id, listing, seconds)
        elif instance_id is not None:
            _show_one(get_instance(instance_id))
        elif jsonl:
            output.print_jsonl(_views(_list(listing, every=True)[0]))
        else:
            _show_list(listing)


def _say_clock() -> None:
    """The database's virtual clock, when `tick --advance` moved it: every time shown is on it."""
    cli = state()
    if cli.json or cli.database_missing() or not cli.app().clock_offset:
        return
    from ..render import clock_line

    output.say(clock_line(cli.app().clock_offset, cli.app().now()))


def _check(status_filter: Optional[str], wait: Optional[str], instance_id: Optional[str]) -> None:
    from ...records import SHOWN_STATUSES as STATUSES

    for option, value, allowed in (("--status", status_filter, STATUSES),
                                   ("--wait", wait, (*STATUSES, "terminal"))):
        if value is not None and value not in allowed:
            import difflib

            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(allowed)}"
            raise UsageError(f"invalid {option} {value!r}: {hint}")
    if wait is not None and instance_id is None:
        raise UsageError("--wait needs an INSTANCE_ID: romancy status ID --wait [STATUS]")


class Listing(NamedTuple):
    """Which instances the table lists."""

    status: Optional[str]
    workflow: Optional[str]
    limit: Optional[int]
    search: Optional[str]


def _list(listing: Listing, every: bool = False) -> tuple[list, bool]:
    """The instances to show and whether the table's default limit cut them; machine output
    (`every`, or --json) has no default limit."""
    cli = state()
    if cli.database_missing():
        return [], False
    status, workflow, limit, search = listing
    if limit is None and not (cli.json or every):
        found = cli.app().list_instances(status, workflow, DEFAULT_TABLE_LIMIT + 1, search=search)
        return found[:DEFAULT_TABLE_LIMIT], len(found) > DEFAULT_TABLE_LIMIT
    return cli.app().list_instances(status, workflow, limit, search=search), False


def _show_list(listing: Listing) -> None:
    instances, limited = _list(listing)
    if state().json:
        output.print_json(_views(instances))
    else:
        from ..render import instance_table

        instance_table(instances, limited, state().app().short_ids)


def _views(instances: list) -> list:
    from ...views import instance_view

    return [instance_view(i) for i in instances]


def _show_one(instance: Any) -> None:
    history = state().app().history(instance.instance_id)
    missed = state().app().near_misses(instance)
    children = state().app().children(instance.instance_id)
    if state().json:
        from ...views import detail_view

        output.print_json(detail_view(instance, history, missed, children))
    else:
        from ..render import instance_detail

        instance_detail(instance, history, state().verbose, children)
        _say_near_misses(instance, missed)
        overdue = overdue_hint(instance)
        if overdue:
            output.show(f"  [yellow]![/] {output.esc(overdue)}")


def _tree(instance_id: Optional[str]) -> None:
    """The instance and its descendants, one line each, indented by generation (JSON: nested)."""
    if instance_id is None:
        raise UsageError("--tree needs an INSTANCE_ID: romancy status ID --tree")
    root = get_instance(instance_id)
    if state().json:
        output.print_json(_tree_view(root))
        return
    from ..render import tree_lines

    for line in tree_lines(root, state().app().children):
        output.data(line)


def _tree_view(instance: Any) -> dict:
    from ...views import child_view

    view = child_view(instance)
    view["children"] = [_tree_view(child) for child in state().app().children(instance.instance_id)]
    return view


def _say_near_misses(instance: Any, missed: list) -> None:
    """Events of the awaited type it did not take: the answer to "why didn't it resume?"."""
    if not missed:
        return
    from ..render import when

    esc = output.esc
    output.say(f"  [bold]near misses[/] ({len(missed)} {esc(instance.wait.event_type)} event(s) it did not accept)")
    for logged, reason in missed:
        event = logged.event
        output.say(f"    {when(event.received_at)}  {esc(event.source)}/{esc(event.id)}: {esc(reason)}")


def _wait(instance_id: str, target: str, timeout: Optional[float]) -> None:
    """Poll until reached (exit 0), ended otherwise or timed out (exit 1); then show the instance."""
    from ...records import TERMINAL
    from ...views import shown_status

    deadline = None if timeout is None else time.monotonic() + timeout
    instance = get_instance(instance_id)
    instance_id = instance.instance_id
    while not _reached(instance, target):
        if instance.status in TERMINAL:
            _show_one(instance)
            output.error(f"{instance_id} ended {instance.status}, not {target}")
            raise typer.Exit(FAILED)
        if deadline is not None and time.monotonic() >= deadline:
            _show_one(instance)
            overdue = overdue_hint(instance)
            output.error(f"timed out after {timeout:g}s waiting for {instance_id} to be {target} "
                         f"(it is {shown_status(instance)})" + (f"; {overdue}" if overdue else ""))
            raise typer.Exit(FAILED)
        time.sleep(POLL_SECONDS)
        instance = state().app().get(instance_id)
    _show_one(instance)


def overdue_hint(instance: Any) -> str:
    """A timer past due means nothing is ticking this database (status and --wait only look)."""
    from ...records import WAITING_FOR_EVENT, WAITING_FOR_TIMER

    wake = instance.wait.wake_at if instance.wait is not None else None
    if instance.status not in (WAITING_FOR_EVENT, WAITING_FOR_TIMER) or wake is None or wake > state().now():
        return ""
    return ("its timer is overdue and nothing is firing it: run `romancy tick` "
            "(or keep `romancy serve` or `romancy tick --loop` running)")


def _reached(instance: Any, target: str) -> bool:
    from ...records import TERMINAL
    from ...views import shown_status

    return instance.status in TERMINAL if target == "terminal" else shown_status(instance) == target


def _watch(instance_id: Optional[str], listing: Listing, timeout: Optional[float]) -> None:
    """Redraw on change (JSON: one document per line) until Ctrl-C, the timeout, or the end."""
    from ...records import TERMINAL

    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = None
    try:
        while deadline is None or time.monotonic() < deadline:
            if instance_id is not None:
                instance = get_instance(instance_id)
                instance_id = instance.instance_id
                key: Any = (instance.status, instance.updated_at, instance.parked)
                if key != last:
                    _clear()
                    _show_one(instance)
                if instance.status in TERMINAL:
                    return
            else:
                instances, _ = _list(listing)
                key = [(i.instance_id, i.status, i.updated_at, i.parked) for i in instances]
                if key != last:
                    _clear()
                    _show_list(listing)
            last = key
            time.sleep(WATCH_SECONDS)
    except KeyboardInterrupt:
        return


def _clear() -> None:
    if not state().json and output.answer_console().is_terminal:
        output.answer_console().clear()

"""`romancy send-event`: store a CloudEvent and resume the instances it satisfies, in this process,
or (`--url`) post it to a running `romancy serve`.
"""

from typing import Annotated, Any, Optional

import typer

from ...errors import UsageError
from .. import output
from ..common import command, complete_instance, get_instance
from ..inputs import read_json
from ..state import state, user_output


def register(app: typer.Typer) -> None:
    @command(app, "send-event")
    def send_event(
        event_type: Annotated[Optional[str], typer.Argument(
            metavar="TYPE", help="CloudEvent type, e.g. payment.completed.", show_default=False)] = None,
        data: Annotated[Optional[str], typer.Option(
            "--data", metavar="JSON|@file|-", help="Event data as JSON.", show_default=False)] = None,
        source: Annotated[str, typer.Option("--source", help="CloudEvent source.")] = "romancy-cli",
        event_id: Annotated[Optional[str], typer.Option(
            "--id", help="CloudEvent id (default: generated). The same source+id twice is applied once.",
            show_default=False)] = None,
        subject: Annotated[Optional[str], typer.Option("--subject", help="CloudEvent subject.",
                                                       show_default=False)] = None,
        instance: Annotated[Optional[str], typer.Option(
            "--instance", metavar="ID", help="Deliver only to this instance.", autocompletion=complete_instance,
            show_default=False)] = None,
        no_resume: Annotated[bool, typer.Option(
            "--no-resume", help="Store and deliver only; `romancy tick` (or a running `serve`/`run`) resumes.")] = False,
        start_workflow: Annotated[Optional[str], typer.Option(
            "--start-workflow", metavar="WORKFLOW", help="With --instance: start that instance of WORKFLOW "
            "first if it does not exist (in the same transaction).", show_default=False)] = None,
        input_json: Annotated[Optional[str], typer.Option(
            "--input", metavar="JSON|@file|-", help="With --start-workflow: its arguments, as for `start --input`.",
            show_default=False)] = None,
        url: Annotated[Optional[str], typer.Option(
            "--url", metavar="URL", help="Post to a running `romancy serve` (structured CloudEvent) instead.",
            show_default=False)] = None,
        batch: Annotated[Optional[str], typer.Option(
            "--batch", metavar="FILE|-", help="Send the events of FILE (or stdin), JSON Lines: one object per "
            "line with type, data, source, id, subject, instance. Every line is checked before any is stored.",
            show_default=False)] = None,
    ) -> None:
        """Store an event and resume the instances waiting for it; says which it resumed.

        With `--batch`, store many in this process: one summary line, or with `--json` one
        result per event (JSON Lines)."""
        if batch is not None:
            _check_batch_options(event_type, data, event_id, subject, instance, url)
            _send_batch(batch, source, no_resume)
            return
        if not event_type:
            raise UsageError("event TYPE must not be empty: give a CloudEvents type such as payment.completed, "
                             "or --batch FILE")
        payload = read_json(data, "--data") if data is not None else None
        start = _start_arguments(start_workflow, input_json, instance, url)
        if url is not None:
            _post(url, event_type, payload, source, event_id, subject, instance)
            return
        cli = state()
        if not no_resume:
            cli.load_workflows()  # resuming runs workflow code
        if instance is not None and start is None:
            get_instance(instance)  # an unknown target is an error (exit 3), and nothing is stored
        romancy = cli.app()
        workflow, args, kwargs = start or (None, [], {})
        with user_output():
            result = romancy.send_event(event_type, payload, source=source, event_id=event_id,
                                        subject=subject, instance=instance, resume=not no_resume,
                                        start_workflow=workflow, args=args, kwargs=kwargs)
        if cli.json:
            from ...views import send_view

            output.print_json(send_view(result))
        else:
            _describe(result, event_type, source, no_resume, instance)


def _check_batch_options(event_type: Optional[str], *given: Optional[str]) -> None:
    if event_type is not None:
        raise UsageError(f"--batch takes the type of each event from its line; drop TYPE {event_type!r}")
    if any(value is not None for value in given):
        raise UsageError("--batch takes data, id, subject and instance from each line, and sends in this "
                         "process; drop --data, --id, --subject, --instance and --url")


def _send_batch(path: str, source: str, no_resume: bool) -> None:
    from ..batch import check_instances, check_starts, read_batch

    events = read_batch(path)
    cli = state()
    if not no_resume:
        cli.load_workflows()
    check_instances(events, get_instance)
    romancy = cli.app()
    check_starts(events, source, romancy.check_starts)
    results = []
    with user_output():
        for event in events:
            results.append(romancy.send_event(event.type, event.data, source=event.source or source,
                                              event_id=event.id, subject=event.subject,
                                              instance=event.instance, resume=not no_resume))
    if cli.json:
        from ...views import send_view

        output.print_jsonl([send_view(result) for result in results])
    else:
        output.say(_summary(results, no_resume))


def _summary(results: list, no_resume: bool) -> str:
    duplicates = sum(1 for r in results if r.duplicate)
    delivered = sum(len(r.delivered) for r in results)
    text = f"  stored {len(results) - duplicates} of {len(results)} events ({duplicates} duplicate)"
    if no_resume:
        return f"{text}; delivered to {_count(delivered)} (not resumed): `romancy tick` resumes them"
    statuses: dict[str, int] = {}
    for result in results:
        for status in result.resumed.values():
            statuses[status] = statuses.get(status, 0) + 1
    shown = ", ".join(f"{n} {output.esc(status)}" for status, n in sorted(statuses.items()))
    return f"{text}; resumed {_count(sum(statuses.values()))}" + (f": {shown}" if shown else "")


def _start_arguments(workflow: Optional[str], input_json: Optional[str], instance: Optional[str],
                     url: Optional[str]) -> Optional[tuple[str, list[Any], dict[str, Any]]]:
    """--start-workflow's workflow and checked arguments; input errors before anything is stored."""
    from ...errors import UsageError

    if workflow is None:
        if input_json is not None:
            raise UsageError("--input is given with --start-workflow only")
        return None
    if instance is None or url is not None:
        raise UsageError("--start-workflow needs --instance ID (and works without --url)")
    from ..inputs import workflow_arguments
    from ..common import workflow_definition

    state().load_workflows()
    given = read_json(input_json, "--input") if input_json is not None else None
    definition = workflow_definition(workflow)
    args, kwargs = workflow_arguments(definition, [], given)
    return definition.name, args, kwargs


def _post(url: str, event_type: str, payload: Any, source: str, event_id: Optional[str],
          subject: Optional[str], instance: Optional[str]) -> None:
    from ...http.client import post_event
    from ...ids import new_event_id
    from ...records import EventInput

    extensions = {"romancyinstanceid": instance} if instance else {}
    event = EventInput(event_type, source, event_id or new_event_id(), payload, subject,
                       data_content_type="application/json", extensions=extensions)
    answer = post_event(url, event, token=state().settings.serve.token)
    if state().json:
        output.print_json({"event_id": event.id, "url": url, **answer})
    else:
        output.say(f"  {output.esc(url)} accepted event {output.esc(event.id)} ({output.esc(event_type)})")


def _describe(result: Any, event_type: str, source: str, no_resume: bool, instance: Optional[str]) -> None:
    esc, say = output.esc, output.say
    if result.duplicate:
        say(f"  duplicate event (source {esc(source)}, id {esc(result.event_id)}): already accepted, "
            "applied once; nothing resumed")
        return
    if result.started:
        say(f"  started {_count(len(result.started))}:" + _list({i: result.resumed.get(i, "running")
                                                                 for i in result.started}))
    if not result.delivered:
        if result.started:
            return
        say(f"  stored event {esc(result.event_id)} ({esc(event_type)}); {_unmatched(result, event_type, instance)}")
        return
    if no_resume:
        ids = ", ".join(result.delivered)
        say(f"  delivered to {_count(len(result.delivered))} (not resumed): {esc(ids)}; "
            "`romancy tick` resumes them")
        return
    if result.resumed:
        say(f"  resumed {_count(len(result.resumed))}:" + _list(result.resumed))
        _failures([iid for iid, status in result.resumed.items() if status == "failed"])
    busy = [iid for iid in result.delivered if iid not in result.resumed]
    if busy:
        say(f"  delivered to {_count(len(busy))} another worker is running:" + _list({i: "running" for i in busy}))


def _failures(instance_ids: list) -> None:
    """Why each resumed instance failed, at the user's line that raised."""
    from ..render import where_text

    for instance_id in instance_ids:
        error = state().app().get(instance_id).error or {}
        output.say(f"  [red]✗[/] {output.esc(instance_id)}: {output.esc(error.get('type'))}: "
                   f"{output.esc(error.get('message'))}{output.esc(where_text(error))}")


def _unmatched(result: Any, event_type: str, instance: Optional[str]) -> str:
    """Why an event resumed nothing: who waits for its type and why none took it."""
    esc = output.esc
    if not result.waiting:
        if instance is not None:
            return f"instance {esc(instance)} is not waiting for {esc(event_type)}"
        return "no instance was waiting for it"
    count = f"more than {result.waiting} instances wait" if result.more_waiting else \
        f"{_count(result.waiting)} wait{'s' if result.waiting == 1 else ''}"
    if len(result.near_misses) == 1:
        return f"{count} for {esc(event_type)}; none matched: {esc(result.near_misses[0][1])}"
    return f"{count} for {esc(event_type)}; none matched:" + "".join(
        f"\n    {esc(iid)}: {esc(reason)}" for iid, reason in result.near_misses)


def _count(n: int) -> str:
    return f"{n} instance{'s' if n != 1 else ''}"


def _list(statuses: dict) -> str:
    items = [f"{output.esc(iid)} → {output.esc(status)}" for iid, status in statuses.items()]
    if len(items) == 1:
        return " " + items[0]
    return "".join("\n    " + item for item in items)

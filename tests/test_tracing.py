"""OpenTelemetry traces (romancy_cli/tracing.py), read back from the SDK's in-memory exporter: one
trace per instance across resumes days apart and across processes (its context is stored with it);
an incoming `traceparent` (HTTP header, binary `ce-traceparent`, structured attribute) is the
parent of the receive span; published events carry the workflow's trace, also across two `serve`
processes relaying over HTTP; traces asked for without the SDK are one warning line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cli_helpers import Project, cli_env, make_project, romancy_executable
from multiworker_support import free_port
from romancy_cli import App, ManualClock, Registry, activity, send_event, sleep, wait_event, workflow
from romancy_cli.config import traces_wanted
from romancy_cli.tracing import Tracing
from serve_support import run_server, wait_for
from test_serve_cli import Served

registry = Registry()
START = 1_700_000_000.0
DAY = 86400.0
SENDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENDER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"


@activity("trace_reserve", registry=registry)
def reserve(ctx: Any, order_id: str) -> str:
    return f"R-{order_id}"


@workflow("trace_order", registry=registry)
def trace_order(ctx: Any, order_id: str) -> str:
    reserve.execute(ctx, order_id)
    wait_event(ctx, "trace.paid", match={"order_id": order_id})
    sleep(ctx, "1h")
    return reserve.execute(ctx, order_id + "-done")


@workflow("trace_announcer", registry=registry)
def trace_announcer(ctx: Any) -> str:
    return send_event(ctx, "trace.hello", {"name": "ann"})


@workflow("trace_greeter", start_on="trace.hello", registry=registry)
def trace_greeter(ctx: Any, name: str) -> str:
    return reserve.execute(ctx, name)


class Spans:
    """An in-memory exporter and the Tracing hook writing to it."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.hook = Tracing(provider)

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]


def trace_id(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def runs_of(spans: Spans, instance_id: str) -> list[ReadableSpan]:
    return [s for s in spans.named("romancy.workflow") if s.attributes["romancy.instance_id"] == instance_id]


@pytest.fixture
def spans() -> Spans:
    return Spans()


@pytest.fixture
def app(tmp_path: Path, spans: Spans) -> Iterator[App]:
    with App(database=str(tmp_path / "romancy.db"), clock=ManualClock(START), registry=registry,
             hooks=[spans.hook]) as opened:
        yield opened


def test_one_trace_for_an_instance_across_resumes_days_apart(app: App, spans: Spans) -> None:
    iid = trace_order.start(app, "A")
    app.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    app.send_event("trace.paid", {"order_id": "A"})
    app.tick(advance="1h")
    assert app.get(iid).status == "completed"
    (root,) = spans.named("romancy.instance")
    runs = runs_of(spans, iid)
    assert [r.attributes["romancy.status"] for r in runs] == ["waiting_for_event", "waiting_for_timer", "completed"]
    assert {trace_id(r) for r in runs} == {trace_id(root)}
    assert all(r.parent is not None and r.parent.span_id == root.context.span_id for r in runs)
    activities = spans.named("romancy.activity")
    assert len(activities) == 2 and {trace_id(a) for a in activities} == {trace_id(root)}
    assert [a.parent.span_id for a in activities] == [runs[0].context.span_id, runs[2].context.span_id]  # type: ignore[union-attr]
    # The event that resumed it is its own trace; the run it resumed links to its span.
    (received,) = spans.named("romancy.event")
    assert received.attributes["romancy.delivered_to"] == (iid,)
    assert [link.context.span_id for link in runs[1].links] == [received.context.span_id]


def test_the_trace_is_stored_with_the_instance(tmp_path: Path) -> None:
    first, second = Spans(), Spans()
    database = str(tmp_path / "kept.db")
    with App(database=database, clock=ManualClock(START), registry=registry, hooks=[first.hook]) as app:
        iid = trace_order.start(app, "B")
    with App(database=database, clock=ManualClock(START + DAY), registry=registry, hooks=[second.hook]) as app:
        app.send_event("trace.paid", {"order_id": "B"})
    (root,) = first.named("romancy.instance")
    (resumed,) = runs_of(second, iid)
    assert trace_id(resumed) == trace_id(root) and resumed.parent.span_id == root.context.span_id  # type: ignore[union-attr]


def test_a_published_event_carries_the_trace_to_what_it_starts(app: App, spans: Spans) -> None:
    iid = trace_announcer.start(app)
    (announcer_run,) = runs_of(spans, iid)
    (sent,) = [e for e in app.list_events(event_type="trace.hello")]
    assert sent.event.extensions["traceparent"].split("-")[1] == trace_id(announcer_run)
    greeter = next(s for s in spans.named("romancy.instance") if s.attributes["romancy.workflow"] == "trace_greeter")
    assert trace_id(greeter) == trace_id(announcer_run)


@pytest.mark.parametrize("mode", ["http header", "binary", "structured"])
def test_an_incoming_traceparent_is_the_parent_of_the_receive_span(tmp_path: Path, spans: Spans, mode: str) -> None:
    app = App(str(tmp_path / "h.db"), registry=registry, hooks=[spans.hook]).initialize()
    for running in run_server(tmp_path / "h.db", app=app):
        iid = trace_order.start(app, "H")
        data = {"order_id": "H"}
        if mode == "binary":
            headers = {"ce-specversion": "1.0", "ce-type": "trace.paid", "ce-source": "t", "ce-id": "e1",
                       "ce-traceparent": TRACEPARENT, "Content-Type": "application/json"}
            answer = requests.post(running.url, data=json.dumps(data), headers=headers, timeout=10)
        else:
            event = {"specversion": "1.0", "type": "trace.paid", "source": "t", "id": "e1", "data": data}
            headers = {"Content-Type": "application/cloudevents+json"}
            if mode == "structured":
                event["traceparent"] = TRACEPARENT
            else:
                headers["traceparent"] = TRACEPARENT
            answer = requests.post(running.url, json=event, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        assert wait_for(lambda: app.get(iid).status == "waiting_for_timer")
    (received,) = spans.named("romancy.event")
    assert trace_id(received) == SENDER_TRACE and format(received.parent.span_id, "016x") == SENDER_SPAN  # type: ignore[union-attr]
    assert received.attributes["romancy.delivered_to"] == (iid,)


# -- two `serve` processes relaying over HTTP, spans written by the console exporter -------------

ORDERS = '''
from romancy_cli import activity, send_event, workflow

@activity
def take(ctx, order_id: str) -> str:
    return order_id

@workflow(start_on="order.requested")
def checkout(ctx, order_id: str) -> str:
    take.execute(ctx, order_id)
    send_event(ctx, "order.placed", {"order_id": order_id})
    return "placed"
'''

SHIPPING = '''
from romancy_cli import activity, workflow

@activity
def pack(ctx, order_id: str) -> str:
    return "packed " + order_id

@workflow(start_on="order.placed")
def shipment(ctx, order_id: str) -> str:
    return pack.execute(ctx, order_id)
'''


def console_spans(text: str) -> list[dict[str, Any]]:
    """The spans ConsoleSpanExporter wrote (JSON objects over several lines) among log lines."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("\n{", at)) != -1:
        try:
            span, at = decoder.raw_decode(text, start + 1)
        except json.JSONDecodeError:
            at = start + 1
            continue
        if isinstance(span, dict) and "context" in span:
            found.append(span)
    return found


def serve(root: Path, port: int) -> Served:
    proc = subprocess.Popen([romancy_executable(), "serve", "--no-reload", "--port", str(port)], cwd=root,
                            env=cli_env(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME=root.name),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served = Served(Project(root), proc, port)
    assert served.until(lambda: requests.get(served.url + "health/live", timeout=1).ok)
    return served


def test_a_flow_across_two_serve_processes_is_one_trace(tmp_path: Path) -> None:
    shipping_port = free_port()
    orders, shipping = Project(tmp_path / "orders"), Project(tmp_path / "shipping")
    for project, code, extra in ((orders, ORDERS, f'[outbox]\nurl = "http://127.0.0.1:{shipping_port}/"\n'),
                                 (shipping, SHIPPING, "")):
        project.root.mkdir()
        project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n' + extra)
        project.write("workflows.py", code)
    servers = [serve(shipping.root, shipping_port), serve(orders.root, free_port())]
    try:
        requested = {"specversion": "1.0", "type": "order.requested", "source": "t", "id": "r1",
                     "data": {"order_id": "O-1"}}
        answer = requests.post(servers[1].url, json=requested, headers={"Content-Type": "application/cloudevents+json"},
                               timeout=10)
        assert answer.status_code == 202
        assert servers[0].until(lambda: shipping.db.exists() and shipping.rows(
            "SELECT status FROM romancy_instances") == [("completed",)])
    finally:
        outputs = []
        for served in servers:
            served.proc.terminate()
            _, err = served.proc.communicate(timeout=30)
            outputs.append(console_spans("\n" + served.log + err))
    shipped, ordered = outputs
    trace = next(s for s in ordered if s["name"] == "romancy.event")["context"]["trace_id"]
    # orders: the request, the checkout instance and its run, the relay; shipping: the receive,
    # the shipment instance and its run: one trace.
    assert {s["name"] for s in ordered} >= {"romancy.event", "romancy.instance", "romancy.workflow",
                                            "romancy.activity", "romancy.outbox.send"}
    assert {s["context"]["trace_id"] for s in ordered + shipped} == {trace}
    send = next(s for s in ordered if s["name"] == "romancy.outbox.send")
    received = next(s for s in shipped if s["name"] == "romancy.event")
    assert received["parent_id"] == send["context"]["span_id"]
    assert received["resource"]["attributes"]["service.name"] == "shipping"


def test_traces_asked_for_without_the_sdk_are_one_warning(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    hide = "import sys; sys.modules['opentelemetry'] = None; from romancy_cli.cli.main import main; main()"
    proc = subprocess.run([sys.executable, "-c", hide, "start", "add", "1"], cwd=project.root,
                          env=cli_env(OTEL_TRACES_EXPORTER="console"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: traces were asked for (OTEL_* variables or [telemetry] otel) but OpenTelemetry "
                        "is not installed: pip install 'romancy-cli[otel]'; running without traces"]


def test_an_unknown_exporter_is_one_warning(tmp_path: Path) -> None:
    result = make_project(tmp_path).run("start", "add", "1", OTEL_TRACES_EXPORTER="zipkin")
    assert result.code == 0
    assert "warning: OTEL_TRACES_EXPORTER='zipkin' is not supported here (use console or otlp)" in result.stderr


@pytest.mark.parametrize("configured, env, wanted", [
    (False, {}, None), (True, {}, "otlp"), (False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "otlp"),
    (False, {"OTEL_TRACES_EXPORTER": "console"}, "console"), (True, {"OTEL_TRACES_EXPORTER": "none"}, None)])
def test_which_settings_turn_traces_on(configured: bool, env: dict, wanted: Any) -> None:
    assert traces_wanted(configured, env) == wanted


def test_a_traced_cli_start_stores_its_trace_and_keeps_stdout_for_the_answer(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n[telemetry]\notel = true\n')
    result = project.run("start", "add", "1", OTEL_TRACES_EXPORTER="console")  # console: no collector needed
    assert result.code == 0, result.stderr
    names = {span["name"] for span in console_spans("\n" + result.stderr)}
    assert names == {"romancy.instance", "romancy.workflow", "romancy.activity"}
    assert result.stdout.strip().startswith("add-")  # stdout keeps the answer alone
    stored = project.rows("SELECT trace_context FROM romancy_instances")[0][0]
    assert stored.split("-")[1] == next(s for s in console_spans("\n" + result.stderr)
                                        if s["name"] == "romancy.instance")["context"]["trace_id"][2:]


def test_a_bad_otel_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n[telemetry]\notel = "yes"\n')
    result = project.run("start", "add", "1")
    assert result.code == 2 and "`telemetry.otel` must be true or false, got 'yes'" in result.error_line
    assert project.counts() == {}

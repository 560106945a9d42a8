"""OpenTelemetry traces (the `otel` extra): a hook of the App (romancy_cli/observe.py) that makes
the spans `romancy.instance` (the root every run of one instance is under, its context stored with
the instance: one trace across resumes days apart), `romancy.workflow` (one run), `romancy.activity`,
`romancy.event` (a received event, under the sender's `traceparent`) and `romancy.outbox.send`.
Imported only when tracing is on: OpenTelemetry stays off the start-up path of every command."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import Any, Callable, Iterator, Mapping, Optional

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()
SCOPE = "romancy_cli"
EXPORTERS = ("console", "otlp")


class Tracing:
    """The tracing hook; `provider` is an SDK TracerProvider (tests give one with an in-memory
    exporter), else the global one."""

    def __init__(self, provider: Any = None) -> None:
        self.tracer = (provider or trace.get_tracer_provider()).get_tracer(SCOPE)

    def new_trace(self, instance_id: str, workflow: str) -> Optional[str]:
        span = self.tracer.start_span("romancy.instance", attributes={"romancy.instance_id": instance_id,
                                                                      "romancy.workflow": workflow})
        span.end()
        return _traceparent(span)

    @contextlib.contextmanager
    def run_span(self, instance_id: str, workflow: str, stored: Optional[str]) -> Iterator[Callable[[str], None]]:
        # The receive span a run happens in (a delivery resumed it at once) is linked, not its parent:
        # the parent is the instance's own trace.
        current = trace.get_current_span().get_span_context()
        links = [trace.Link(current)] if current.is_valid else []
        parent = PROPAGATOR.extract({"traceparent": stored}) if stored else otel_context.Context()
        with self.tracer.start_as_current_span("romancy.workflow", context=parent, links=links, attributes={
                "romancy.instance_id": instance_id, "romancy.workflow": workflow}) as span:
            yield lambda status: span.set_attribute("romancy.status", status)

    @contextlib.contextmanager
    def span(self, name: str, carrier: Mapping[str, Any], attributes: dict[str, Any]) -> Iterator[Callable[[dict], None]]:
        headers = {key: str(carrier[key]) for key in ("traceparent", "tracestate") if carrier.get(key)}
        parent = PROPAGATOR.extract(headers) if headers else None  # None: under the current span
        with self.tracer.start_as_current_span(name, context=parent, attributes=attributes) as span:
            yield span.set_attributes

    def headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
        return carrier


def _traceparent(span: Any) -> Optional[str]:
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
    return carrier.get("traceparent")


# -- turning it on (config.traces_wanted says when) ------------------------------------------------


def from_environment(exporter_name: str, warn: Callable[[str], None]) -> Optional[Tracing]:
    """The tracing hook for this process exporting to `exporter_name` (config.traces_wanted), or
    None with one warning line when that cannot be had: the SDK or the OTLP exporter is not
    installed, or an exporter this does not know."""
    if exporter_name not in EXPORTERS:
        warn(f"OTEL_TRACES_EXPORTER={exporter_name!r} is not supported here (use console or otlp); "
             "running without traces")
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        warn("traces were asked for (OTEL_* variables or [telemetry] otel) but the OpenTelemetry SDK is not "
             "installed: pip install 'romancy-cli[otel]'; running without traces")
        return None
    if exporter_name == "console":
        exporter: Any = ConsoleSpanExporter(out=sys.stderr)  # stdout carries a command's answer only
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            warn("OTLP traces need opentelemetry-exporter-otlp-proto-http: pip install 'romancy-cli[otel]'; "
                 "running without traces")
            return None
        exporter = OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create.
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                       "romancy")}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    atexit.register(provider.shutdown)  # a command's spans are exported before it exits
    return Tracing(provider)


__all__ = ["Tracing", "from_environment", "EXPORTERS"]

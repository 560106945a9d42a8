"""GET /metrics of `romancy serve`: the Prometheus text of one App's work. A hook of that App
(romancy_cli/observe.py) counts what this process did, in a registry of its own (never the
global one: two servers in one process count apart); instance and outbox gauges are read from
the database at each scrape. Only `serve` imports this module (prometheus-client is not on the
start-up path of the other commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .app import App

# Seconds: a commit takes about a millisecond on SQLite, far longer under contention.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Seconds after its due time a timer fired: the timer loop naps up to 1 s; more is a backlog.
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class _Gauges(Collector):
    """What is in the database now, read at each scrape: instances per workflow and status (on a
    covering index), outbox entries pending."""

    def __init__(self, app: "App") -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        instances = GaugeMetricFamily("romancy_instances", "Instances in the database, per workflow and status",
                                      labels=["workflow", "status"])
        for (workflow, status), count in sorted(self.app.count_by_workflow().items()):
            instances.add_metric([workflow, status], count)
        yield instances
        yield GaugeMetricFamily("romancy_outbox_pending", "Published events still to be relayed",
                                value=self.app.count_outbox_pending())


class Metrics:
    """The metrics of one App; registered as its hook on creation."""

    def __init__(self, app: "App") -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.workflows_started = Counter("romancy_workflows_started", "Instances started by this process",
                                         ["workflow"], registry=registry)
        self.workflows_ended = Counter("romancy_workflows_ended", "Runs this process ended, per resulting status",
                                       ["workflow", "status"], registry=registry)
        self.events = Counter("romancy_events_received", "Events this process received, per outcome",
                              ["type", "outcome"], registry=registry)
        self.activities = Histogram("romancy_activity_duration_seconds", "Activity attempts run by this process",
                                    ["activity", "outcome"], registry=registry)
        self.commits = Histogram("romancy_commit_duration_seconds", "Write transactions of runs in this process",
                                 registry=registry, buckets=COMMIT_BUCKETS)
        self.lateness = Histogram("romancy_timer_lateness_seconds", "Seconds after their due time timers fired here",
                                  registry=registry, buckets=LATENESS_BUCKETS)
        self.outbox_sent = Counter("romancy_outbox_sent", "Relay attempts of this process that were delivered",
                                   registry=registry)
        self.outbox_failed = Counter("romancy_outbox_failed", "Relay attempts of this process that failed",
                                     registry=registry)
        registry.register(_Gauges(app))
        app.add_hook(self)

    def render(self) -> tuple[str, bytes]:
        """(content type, body) of a scrape; a database fault propagates (the route answers 503)."""
        return CONTENT_TYPE_LATEST, generate_latest(self.registry)

    # -- hook methods (romancy_cli/observe.py) ----------------------------------------------

    def on_workflow_start(self, workflow: str, **_: Any) -> None:
        self.workflows_started.labels(workflow).inc()

    def on_workflow_end(self, workflow: str, status: str, **_: Any) -> None:
        self.workflows_ended.labels(workflow, status).inc()

    def on_event_received(self, type: str, outcome: str, **_: Any) -> None:
        self.events.labels(type, outcome).inc()

    def on_activity_end(self, activity: str, duration: float, error: Optional[dict], **_: Any) -> None:
        self.activities.labels(activity, "failed" if error else "completed").observe(duration)

    def on_commit(self, duration: float, **_: Any) -> None:
        self.commits.observe(duration)

    def on_timer_fired(self, lateness: float, **_: Any) -> None:
        self.lateness.observe(lateness)

    def on_outbox_sent(self, **_: Any) -> None:
        self.outbox_sent.inc()

    def on_outbox_failed(self, **_: Any) -> None:
        self.outbox_failed.inc()


__all__ = ["Metrics"]

"""`romancy serve` as a real process: signals, reload on save, and `send-event --url`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from cli_helpers import Project

WORKFLOWS = '''
from romancy_cli import activity, wait_event, workflow

@activity
def label(ctx, order_id: str) -> str:
    return "{VERSION}:" + order_id

@workflow
def shipment(ctx, order_id: str) -> str:
    event = wait_event(ctx, "shipment.sent", match={{"order_id": order_id}})
    return label.execute(ctx, order_id)
'''

# The same workflow with a step added before the wait: old histories no longer fit.
BROKEN = '''
from romancy_cli import activity, wait_event, workflow

@activity
def label(ctx, order_id: str) -> str:
    return "v3:" + order_id

@workflow
def shipment(ctx, order_id: str) -> str:
    label.execute(ctx, order_id)
    event = wait_event(ctx, "shipment.sent", match={"order_id": order_id})
    return "never"
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    def __init__(self, project: Project, proc: subprocess.Popen, port: int) -> None:
        self.project, self.proc, self.url = project, proc, f"http://127.0.0.1:{port}/"
        self.log = ""

    def logged(self, text: str) -> bool:
        """Read what serve has logged so far without blocking (stderr is a pipe)."""
        fd = self.proc.stderr.fileno()
        os.set_blocking(fd, False)
        try:
            self.log += os.read(fd, 65536).decode(errors="replace")
        except BlockingIOError:
            pass
        return text in self.log

    def until(self, predicate, limit: float = 30.0) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return True
            except (requests.ConnectionError, IndexError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        os.set_blocking(self.proc.stderr.fileno(), True)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, self.log + err


def start_server(project: Project, *extra: str, **env: str) -> Served:
    port = free_port()
    proc = project.popen("serve", "--port", str(port), *extra, **env)
    served = Served(project, proc, port)
    assert served.until(lambda: requests.get(served.url + "health/live", timeout=1).ok), proc.stderr
    return served


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    project = Project(tmp_path)
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n')
    project.write("workflows.py", WORKFLOWS.format(VERSION="v1"))
    yield project


def test_sigterm_stops_serve_with_exit_0(project: Project) -> None:
    served = start_server(project, "--no-reload")
    code, err = served.stop()
    assert code == 0 and "shutting down" in err


def test_send_event_url_posts_to_server_and_resumes(project: Project) -> None:
    served = start_server(project, "--no-reload")
    try:
        instance_id = project.run("start", "shipment", "S1").stdout.strip()
        sent = project.run("send-event", "shipment.sent", "--data", '{"order_id": "S1"}', "--url", served.url,
                           "--id", "evt-1", "--json")
        assert sent.code == 0 and sent.json == {"event_id": "evt-1", "url": served.url, "status": "accepted"}
        assert served.until(lambda: project.status_of(instance_id) == "completed")
        output = project.rows("SELECT output FROM romancy_instances WHERE instance_id = ?", instance_id)[0][0]
        assert json.loads(output) == "v1:S1"
    finally:
        served.stop()


def test_send_event_url_unreachable_exits_4(project: Project) -> None:
    result = project.run("send-event", "x", "--url", f"http://127.0.0.1:{free_port()}/")
    assert result.code == 4 and "cannot reach" in result.error_line
    assert project.counts() == {}


def test_send_event_url_server_rejection_exits_2(project: Project) -> None:
    served = start_server(project, "--no-reload", "--token", "s3cret")
    try:
        result = project.run("send-event", "x", "--url", served.url)
        assert result.code == 2 and "answered 401" in result.error_line
        assert project.counts()["romancy_events"] == 0
    finally:
        served.stop()


def test_timer_and_event_from_other_processes_beside_serve(project: Project) -> None:
    served = start_server(project, "--no-reload")
    try:
        instance_id = project.run("start", "shipment", "S2").stdout.strip()
        assert project.run("send-event", "shipment.sent", "--data", '{"order_id": "S2"}', "--no-resume").code == 0
        # Another process only stored the event; serve notices the change and runs the instance.
        assert served.until(lambda: project.status_of(instance_id) == "completed")
    finally:
        served.stop()


def wait_for_reload(served: Served) -> None:
    """Until the restarted server answers: the old process answers until it has stopped, and the
    new one logs when it serves."""
    assert served.until(lambda: served.logged("reloading")
                        and "serving on" in served.log.split("reloading", 1)[1], limit=30)
    assert served.until(lambda: requests.get(served.url + "health/live", timeout=1).ok)


def test_reload_on_save_resumes_waiting_instance_with_new_code(project: Project) -> None:
    served = start_server(project, "--reload", PYTHONDONTWRITEBYTECODE="")  # caches bytecode, as by default
    try:
        instance_id = project.run("start", "shipment", "S3").stdout.strip()
        source = project.root / "workflows.py"
        before = source.stat()
        project.write("workflows.py", WORKFLOWS.format(VERSION="v2"))
        # Saved again within the same second, at the same size: the cached bytecode still matches.
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert source.stat().st_size == before.st_size
        wait_for_reload(served)
        event = {"specversion": "1.0", "type": "shipment.sent", "source": "t", "id": "r1",
                 "data": {"order_id": "S3"}}
        response = requests.post(served.url, json=event, headers={"Content-Type": "application/cloudevents+json"},
                                 timeout=10)
        assert response.status_code == 202
        assert served.until(lambda: project.status_of(instance_id) == "completed")
        output = project.rows("SELECT output FROM romancy_instances WHERE instance_id = ?", instance_id)[0][0]
        assert json.loads(output) == "v2:S3"
    finally:
        code, err = served.stop()
    assert "workflows.py" in err and "reloading" in err


def test_reload_with_incompatible_change_parks_instance(project: Project) -> None:
    served = start_server(project, "--reload")
    try:
        instance_id = project.run("start", "shipment", "S4").stdout.strip()
        project.write("workflows.py", BROKEN)
        wait_for_reload(served)
        assert served.until(lambda: served.logged(f"1 waiting instance no longer fits: {instance_id} (step 0:"))
        event = {"specversion": "1.0", "type": "shipment.sent", "source": "t", "id": "p1",
                 "data": {"order_id": "S4"}}
        requests.post(served.url, json=event, headers={"Content-Type": "application/cloudevents+json"}, timeout=10)

        def parked() -> bool:
            view = requests.get(served.url + f"instances/{instance_id}", timeout=5).json()
            return view["status"] == "parked" and view["error"]["type"] == "NonDeterminismError"

        assert served.until(parked)
        view = requests.get(served.url + f"instances/{instance_id}", timeout=5).json()
        assert "label" in view["error"]["message"] and "shipment.sent" in view["error"]["message"]
        assert "parked" not in view
    finally:
        _, log = served.stop()
    assert f"resumed {instance_id} → parked: " in log


def test_tick_loop_stops_on_sigterm_with_exit_0(project: Project) -> None:
    proc = project.popen("tick", "--loop", "--interval", "0.1")
    served = Served(project, proc, 0)
    assert served.until(lambda: served.logged("Ctrl-C stops"))
    code, err = served.stop()
    assert code == 0 and "stopped" in err


def test_serve_help_describes_each_option(project: Project) -> None:
    result = project.run("serve", "--help", COLUMNS="200")
    assert result.code == 0, result.stderr
    help_text = " ".join((result.stdout + result.stderr).split())
    for described in ("Address to bind", "Port (default 8001; 0 picks a free one)", "Restart with new code",
                      "Authorization: Bearer TOKEN", "Most server threads"):
        assert described in help_text


def test_serve_port_0_listens_on_a_free_port_it_logs(project: Project) -> None:
    import re

    proc = project.popen("serve", "--no-reload", "--port", "0")
    served = Served(project, proc, 0)
    assert served.until(lambda: served.logged("serving on http://127.0.0.1:")), served.log
    port = int(re.search(r"serving on http://127\.0\.0\.1:(\d+)/", served.log).group(1))
    assert port not in (0, 8001)
    assert requests.get(f"http://127.0.0.1:{port}/health/live", timeout=10).json() == {"status": "ok"}
    code, _ = served.stop()
    assert code == 0

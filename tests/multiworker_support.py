"""Helpers for tests/test_multiworker.py: a project with one event-waiting workflow whose activity
appends its item to a side-effect file, real `romancy` processes, and DB polling."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import requests

from cli_helpers import Project, cli_env, romancy_executable

WORKFLOWS = '''
import time

from romancy_cli import activity, wait_event, workflow

EFFECTS = {effects!r}


@activity
def record(ctx, item: str) -> str:
    with open(EFFECTS, "a", encoding="utf-8") as f:
        f.write(item + "\\n")
    time.sleep(0.02)  # keep activities in flight long enough for the SIGKILL to catch some
    return item


@workflow
def itemflow(ctx, item: str) -> str:
    wait_event(ctx, "item.ready", match={{"item": item}})
    return record.execute(ctx, item)
'''

STARTER = '''
import json, sys
sys.path.insert(0, ".")
import workflows  # registers itemflow
from romancy_cli import App
database, count = sys.argv[1], int(sys.argv[2])
ids = {}
with App(database=database, worker_id="starter") as app:
    for n in range(count):
        item = "item-%04d" % n
        ids[item] = app.start("itemflow", item)
print(json.dumps(ids))
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_project(root: Path, database: str, lease_seconds: float = 3) -> tuple[Project, Path]:
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root)
    effects = root / "effects.txt"
    effects.touch()
    project.write("romancy.toml", f'database = "{database}"\nworkflows = ["workflows.py"]\n'
                                  f"lease_seconds = {lease_seconds}\n")
    project.write("workflows.py", WORKFLOWS.format(effects=str(effects)))
    return project, effects


def start_instances(project: Project, database: str, count: int) -> dict[str, str]:
    """item -> instance id, started in one separate process (keeps this process's registry clean)."""
    import json

    proc = subprocess.run([sys.executable, "-c", STARTER, database, str(count)], cwd=project.root,
                          env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class Proc:
    """A long-running `romancy ...` process whose stderr goes to a file (no pipe to fill up)."""

    def __init__(self, project: Project, name: str, *args: str) -> None:
        self.log_path = project.root / f"{name}.stderr"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([romancy_executable(), *args], cwd=project.root, env=cli_env(),
                                     stdout=subprocess.DEVNULL, stderr=self._log, text=True)

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


class Server(Proc):
    def __init__(self, project: Project, name: str, *extra: str, port: int = 0) -> None:
        self.port = port or free_port()
        super().__init__(project, name, "serve", "--no-reload", "--port", str(self.port), *extra)
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait_live(self, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr()
            try:
                if requests.get(self.url + "health/live", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"serve on {self.port} never became live:\n{self.stderr()}")


def cloudevent(item: str) -> dict:
    return {"specversion": "1.0", "type": "item.ready", "source": "multiworker-test",
            "id": f"evt-{item}", "data": {"item": item}}


def wait_until(predicate: Callable[[], bool], limit: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def effect_counts(effects: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in effects.read_text().splitlines():
        if line:
            counts[line] = counts.get(line, 0) + 1
    return counts

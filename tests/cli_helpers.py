"""Helpers for the CLI tests: run the installed `romancy` executable on a temporary project and
look at the database afterwards with plain sqlite3 (no App, so nothing is migrated or created)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def romancy_executable() -> str:
    """The console script installed beside this interpreter (the venv the tests run in)."""
    candidate = Path(sys.executable).parent / "romancy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("romancy")
    if not found:
        pytest.skip("the romancy console script is not installed (pip install -e .)")
    return found


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROMANCY_")}
    env.update(NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_line(self) -> str:
        """The single `error: ...` line; asserts there is exactly one and no traceback."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, self.stderr
        assert "Traceback" not in self.stderr, self.stderr
        return lines[0]


class Project:
    """A temporary folder with romancy.toml (database romancy.db) and workflows.py."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "romancy.db"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, *args: str, input: Optional[str | bytes] = None, timeout: float = 30,
            cwd: Optional[Path] = None, **env: str) -> Result:
        """`input` as bytes reaches stdin as given (such as bytes that are not UTF-8)."""
        text = not isinstance(input, bytes)
        proc = subprocess.run([romancy_executable(), *args], cwd=cwd or self.root, env=cli_env(**env),
                              input=input, capture_output=True, text=text, timeout=timeout)
        if text:
            return Result(proc.returncode, proc.stdout, proc.stderr)
        return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    def run_in_terminal(self, columns: int, *args: str, typed: str = "") -> str:
        """Run with stdin, stdout and stderr on a pseudo-terminal `columns` wide (what a user
        sees in a terminal window of that size), `typed` typed in; returns what it printed,
        without colour."""
        import pty
        import re

        master, slave = pty.openpty()
        proc = subprocess.Popen([romancy_executable(), *args], cwd=self.root, stdin=slave, stdout=slave,
                                stderr=slave, env=cli_env(COLUMNS=str(columns), LINES="50", TERM="xterm"))
        os.close(slave)
        if typed:
            os.write(master, typed.encode())
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        proc.wait(timeout=30)
        text = b"".join(chunks).decode().replace("\r\n", "\n")
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    def popen(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen([romancy_executable(), *args], cwd=self.root, env=cli_env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def counts(self) -> dict[str, int]:
        """Rows per table; {} when the database file does not exist."""
        if not self.db.exists():
            return {}
        return {t: self.rows(f"SELECT COUNT(*) FROM {t}")[0][0]
                for t in ("romancy_instances", "romancy_steps", "romancy_events")}

    def status_of(self, instance_id: str) -> str:
        return self.rows("SELECT status FROM romancy_instances WHERE instance_id = ?", instance_id)[0][0]

    def wait_for_status(self, instance_id: str, status: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.db.exists():
                try:
                    if self.status_of(instance_id) == status:
                        return
                except (IndexError, sqlite3.OperationalError):
                    pass
            time.sleep(0.05)
        raise AssertionError(f"{instance_id} did not reach {status}")


WORKFLOWS = '''
from dataclasses import dataclass
from romancy_cli import activity, decode_event_data, sleep, wait_event, workflow, EventTimeout


@dataclass
class Point:
    x: int
    y: int


@activity
def double(ctx, n: int) -> int:
    print("doubling", n)  # user output must not reach stdout
    return n * 2


@workflow
def add(ctx, a: int, b: int = 1, scale: float = 1.0, loud: bool = False) -> dict:
    """Adds numbers."""
    value = double.execute(ctx, a) // 2 + b
    return {"sum": value * scale, "loud": loud}


@workflow
def norm(ctx, p: Point, tags: list) -> dict:
    return {"norm": abs(p.x) + abs(p.y), "tags": tags}


@workflow
def napper(ctx, seconds: float = 3600.0) -> str:
    sleep(ctx, seconds)
    return "rested"


@workflow
def order(ctx, order_id: str) -> dict:
    double.execute(ctx, 21)
    try:
        event = wait_event(ctx, "payment.completed", timeout="1h", match={"order_id": order_id})
    except EventTimeout:
        return {"order_id": order_id, "status": "expired"}
    return {"order_id": order_id, "status": "paid", "amount": event.data["amount"]}


@workflow
def boom(ctx, message: str) -> None:
    raise ValueError(message)
'''


def make_project(tmp_path: Path) -> Project:
    """Each test module has a `project` fixture returning this."""
    proj = Project(tmp_path / "proj")
    proj.root.mkdir()
    proj.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n')
    proj.write("workflows.py", WORKFLOWS)
    return proj

"""Progress bars: on a terminal (stderr a pty), `send-event --batch`, `prune` and `replay --check`
show a bar from their start when they cover more than 1,000 lines or rows; nothing in a pipe, with
--json, or for 1,000 or fewer."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
from pathlib import Path

import pytest

from cli_helpers import Project, cli_env, make_project, romancy_executable


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def on_terminal(project: Project, *args: str) -> tuple[int, str, str]:
    """Run `romancy` with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    primary, secondary = pty.openpty()
    answer = project.root / "stdout.txt"  # a file: a full pipe would block the child while the terminal is read
    with answer.open("wb") as stdout:
        proc = subprocess.Popen([romancy_executable(), *args], cwd=project.root, env=cli_env(TERM="xterm"),
                                stdout=stdout, stderr=secondary)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    code = proc.wait()
    return code, answer.read_text(), seen.decode(errors="replace")


def batch_file(project: Project, count: int) -> str:
    lines = [json.dumps({"type": "noise", "id": f"n{n}", "data": {"n": n}}) for n in range(count)]
    project.write("batch.jsonl", "\n".join(lines) + "\n")
    return "batch.jsonl"


def test_a_batch_of_over_1000_events_shows_a_bar_on_a_terminal(project: Project) -> None:
    code, _, terminal = on_terminal(project, "send-event", "--batch", batch_file(project, 1001))
    assert code == 0, terminal
    assert "sending events" in terminal and "1001/1001" in terminal
    assert "stored 1001 of 1001 events" in terminal


def test_no_bar_in_a_pipe_with_json_or_for_1000_lines(project: Project) -> None:
    piped = project.run("send-event", "--batch", batch_file(project, 1001))
    assert piped.code == 0 and "sending events" not in piped.stderr
    code, stdout, terminal = on_terminal(project, "send-event", "--batch", "batch.jsonl", "--json")
    assert code == 0 and "sending events" not in terminal and len(stdout.splitlines()) == 1001
    project.write("small.jsonl", "\n".join(json.dumps({"type": "t", "id": f"s{n}"}) for n in range(1000)))
    code, _, terminal = on_terminal(project, "send-event", "--batch", "small.jsonl")
    assert code == 0 and "sending events" not in terminal and "stored 1000 of 1000" in terminal


def clone(project: Project, instance_id: str, count: int, status: str) -> None:
    """`count` copies of an instance with its history, in `status`, last updated long ago."""
    conn = sqlite3.connect(project.db)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(romancy_instances)")]
        row = conn.execute("SELECT * FROM romancy_instances WHERE instance_id = ?", (instance_id,)).fetchone()
        at = {name: index for index, name in enumerate(columns)}
        copies = []
        for n in range(count):
            copy = list(row)
            copy[at["instance_id"]], copy[at["status"]], copy[at["updated_at"]] = f"copy-{n}", status, 1.0
            copies.append(copy)
        conn.executemany(f"INSERT INTO romancy_instances VALUES ({', '.join('?' * len(columns))})", copies)
        conn.executemany("INSERT INTO romancy_steps SELECT ?, seq, kind, name, result FROM romancy_steps "
                         "WHERE instance_id = ?", [(f"copy-{n}", instance_id) for n in range(count)])
        conn.commit()
    finally:
        conn.close()


def test_prune_of_over_1000_rows_shows_a_bar(project: Project) -> None:
    iid = project.run("start", "add", "1").stdout.strip()
    clone(project, iid, 1000, "completed")
    code, _, terminal = on_terminal(project, "prune", "--completed-before", "0s")
    assert code == 0, terminal
    assert "pruning" in terminal and "1001/1001" in terminal and "removed 1001 instance(s)" in terminal
    assert project.counts()["romancy_instances"] == 0


def test_replay_check_of_over_1000_instances_shows_a_bar(project: Project) -> None:
    iid = project.run("start", "order", "o1").stdout.strip()
    clone(project, iid, 1000, "waiting_for_event")
    code, _, terminal = on_terminal(project, "replay", "--check")
    assert code == 0, terminal
    assert "checking instances" in terminal and "1001/1001" in terminal
    piped = project.run("replay", "--check")
    assert piped.code == 0 and "checking instances" not in piped.stderr

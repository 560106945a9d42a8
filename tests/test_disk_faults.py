"""README "When the database fails": a full disk and a read-only file, for real. The database lives on a small tmpfs
that the test fills up; a write that finds no room is answered with 507 (HTTP) or exit 4 (CLI),
stores nothing, and `/health/ready` says so until space is freed. Mounting needs root, as in CI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests

from cli_helpers import Project
from serve_support import Running, run_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
MAX_EVENTS = 400  # bound: a 1 MiB disk is full long before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with a file; removing it frees the room again."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:  # ENOSPC: full
            pass
    return filler


def event(n: int) -> str:
    return json.dumps({"specversion": "1.0", "type": "disk.filler", "source": "/tests", "id": f"e{n}",
                       "data": {"n": n, "pad": "x" * 2000}})


def post_until_refused(server: Running) -> tuple[int, requests.Response]:
    for n in range(MAX_EVENTS):
        response = requests.post(server.url, data=event(n), headers=STRUCTURED, timeout=30)
        if response.status_code != 202:
            return n, response
    raise AssertionError(f"{MAX_EVENTS} events fitted on a full 1 MiB disk")


def test_a_full_disk_gets_507_retryable_and_ready_fails_until_space_is_freed(small_disk: Path) -> None:
    with contextmanager(run_server)(small_disk / "romancy.db") as running:
        assert requests.post(running.url, data=event(-1), headers=STRUCTURED, timeout=30).status_code == 202
        filler = fill(small_disk)
        refused, response = post_until_refused(running)
        body = response.json()
        assert response.status_code == 507, body
        assert body["retryable"] is True and body["error"].startswith("disk full: cannot write database")
        assert "rollback" not in body["error"]
        stored_before = running.rows("events")
        ready = requests.get(running.url + "health/ready", timeout=30)
        assert ready.status_code == 507 and "disk full" in ready.json()["error"]
        # The web page's own action answers as the JSON route does (one table: http/protocol.py).
        origin = running.url.rstrip("/")
        page = requests.post(running.url + "ui/api/events", json={"type": "disk.page", "data": {"pad": "x" * 4000}},
                             headers={"Origin": origin}, timeout=30)
        assert page.status_code == 507 and "disk full" in page.text

        filler.unlink()
        assert requests.get(running.url + "health/ready", timeout=30).status_code == 200
        again = requests.post(running.url, data=event(refused), headers=STRUCTURED, timeout=30)
        assert again.status_code == 202
        assert running.rows("events") == stored_before + 1


def test_send_event_on_a_full_disk_exits_4_naming_the_cause(small_disk: Path, tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write("romancy.toml", f'database = "{small_disk / "romancy.db"}"\nworkflows = []\n')
    assert project.run("send-event", "disk.filler", "--data", "{}").code == 0
    fill(small_disk)
    results = [project.run("send-event", "disk.filler", "--data", json.dumps({"pad": "x" * 4000}))
               for _ in range(40)]
    refused = [r for r in results if r.code != 0]
    assert refused, "every event fitted on a full disk"
    assert {r.code for r in refused} == {4}
    assert all(r.error_line.startswith("error: disk full: cannot ") for r in refused), refused[0].stderr


def test_a_read_only_database_exits_4_naming_it_and_nothing_changes(small_disk: Path, tmp_path: Path) -> None:
    project = Project(tmp_path)
    database = small_disk / "romancy.db"
    project.write("romancy.toml", f'database = "{database}"\nworkflows = []\n')
    assert project.run("send-event", "disk.filler", "--data", "{}").code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    sent = project.run("send-event", "disk.filler", "--data", "{}")
    assert sent.code == 4 and sent.stdout == ""
    assert "read-only" in sent.error_line and str(database) in sent.error_line
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM romancy_events").fetchone() == (1,)


def test_an_io_error_on_a_full_disk_is_a_full_disk(small_disk: Path) -> None:
    """SQLite reports a WAL write that finds no room as "disk I/O error": on a full disk that is
    the disk-full fault (507, and the WAL is truncated before the next write), elsewhere not."""
    import peewee as pw

    from romancy_cli.store.faults import storage_fault

    where = str(small_disk / "romancy.db")
    error = pw.OperationalError("disk I/O error")
    assert storage_fault(error, where).kind != "disk_full"
    filler = fill(small_disk)
    fault = storage_fault(error, where)
    assert fault.kind == "disk_full" and str(fault).startswith("disk full: cannot write database")
    filler.unlink()
    assert storage_fault(error, where).kind != "disk_full"


def test_space_freed_after_a_full_disk_takes_many_more_events_without_a_restart(small_disk: Path) -> None:
    """The WAL that grew into the freed space must not take it back: after the fault it is
    checkpointed and truncated, and kept bounded, so freed room stays room for events."""
    with contextmanager(run_server)(small_disk / "romancy.db") as running:
        filler = fill(small_disk)
        refused, response = post_until_refused(running)
        assert response.status_code == 507, response.json()
        filler.unlink()
        answers = [requests.post(running.url, data=event(refused + n), headers=STRUCTURED, timeout=30).status_code
                   for n in range(200)]
        assert answers == [202] * 200, f"first refusal after {answers.index(507) if 507 in answers else '?'} events"
        assert running.rows("events") == refused + 200

"""Workflows shared by the test process and the subprocesses of the crash and race tests.

Activities append one line per execution to a log file given as an argument, so a test can
count side effects across processes."""

from __future__ import annotations

import os
import time
from typing import Optional

from romancy_cli import EventTimeout, activity, sleep, wait_event, workflow


def append(log: str, line: str) -> None:
    # O_APPEND writes of one short line are atomic, so concurrent processes never interleave.
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_log(log: str) -> list[str]:
    if not os.path.exists(log):
        return []
    with open(log) as handle:
        return handle.read().splitlines()


@activity("fx_step")
def fx_step(ctx, log: str, name: str, block_marker: Optional[str] = None) -> str:
    """Logs `name`. With `block_marker`: the first execution creates the marker and blocks (to be killed)."""
    append(log, name)
    if block_marker is not None and not os.path.exists(block_marker):
        with open(block_marker, "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(120)  # the test SIGKILLs this process long before
    return name


@workflow("fx_crash")
def fx_crash(ctx, log: str, marker: str) -> list:
    first = fx_step.execute(ctx, log, "a")
    second = fx_step.execute(ctx, log, "b", marker)
    third = fx_step.execute(ctx, log, "c")
    return [first, second, third]


@workflow("fx_race_event")
def fx_race_event(ctx, log: str, key: str) -> str:
    event = wait_event(ctx, "fx.race", match={"key": key})
    fx_step.execute(ctx, log, "after-event")
    return event.id


@workflow("fx_race_timer")
def fx_race_timer(ctx, log: str) -> str:
    sleep(ctx, "60s")
    fx_step.execute(ctx, log, "after-timer")
    return "slept"


@workflow("fx_race_timeout")
def fx_race_timeout(ctx, log: str, key: str) -> str:
    try:
        wait_event(ctx, "fx.race", timeout="60s", match={"key": key})
        outcome = "event"
    except EventTimeout:
        outcome = "timeout"
    fx_step.execute(ctx, log, f"after-{outcome}")
    return outcome

"""Runs one engine operation in a separate process for the crash and race tests.

    python workflows_fixture_runner.py start DB WORKFLOW JSON_ARGS
    python workflows_fixture_runner.py send  DB READY GO TYPE SOURCE ID JSON_DATA
    python workflows_fixture_runner.py tick  DB READY GO NOW

`send` and `tick` open the database, create READY, then wait for GO, so that two processes
start their operation at the same moment. They print a JSON summary on stdout."""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workflows_fixture  # noqa: E402,F401  (registers the workflows)
from romancy_cli import App  # noqa: E402


def wait_for_go(ready: str, go: str) -> None:
    open(ready, "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)


def main(argv: list[str]) -> None:
    command, database = argv[0], argv[1]
    with App(database=database, worker_id=f"runner-{os.getpid()}") as app:
        if command == "start":
            print(app.start(argv[2], *json.loads(argv[3])), flush=True)
        elif command == "send":
            wait_for_go(argv[2], argv[3])
            sent = app.send_event(argv[4], json.loads(argv[7]), source=argv[5], event_id=argv[6])
            print(json.dumps({"duplicate": sent.duplicate, "delivered": list(sent.delivered),
                              "resumed": sent.resumed}))
        elif command == "tick":
            wait_for_go(argv[2], argv[3])
            result = app.tick(now=float(argv[4]))
            print(json.dumps({"fired": result.fired, "resumed": result.resumed}))
        else:
            sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])

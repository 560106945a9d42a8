"""One measurement in a fresh process: `python -m bench.worker TASK SYSTEM MODE N FOLDER`.

TASK is core (W1, W2, W3), memory, txcount, http or limit; SYSTEM is romancy, edda, dbos or sqlite;
MODE is the SQLite synchronous mode for romancy and raw sqlite (normal|full), ignored by the others.
Prints `BENCH-RESULT {json}` on success."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time

from .common import emit

MODULES = {"romancy": "bench.sys_romancy", "edda": "bench.sys_edda", "dbos": "bench.sys_dbos",
           "sqlite": "bench.sys_sqlite"}


def main(argv: list[str]) -> int:
    task, system, mode, n, folder = argv[0], argv[1], argv[2], int(argv[3]), argv[4]
    logging.basicConfig(level=logging.WARNING)
    module = importlib.import_module(MODULES[system])
    started = time.perf_counter()
    result = getattr(module, task)(n, mode, folder)
    result["elapsed_s"] = time.perf_counter() - started
    if hasattr(module, "version"):
        result["version"] = module.version()
    emit(result)
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # DBOS keeps one blocked thread per waiting workflow (memory task): do not wait for them.
    os._exit(code)

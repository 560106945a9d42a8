"""Subprocess for the HTTP workload: N instances waiting, then `romancy serve`'s Server on a free port.

    python -m bench.http_server DATABASE N MODE

Prints `READY <port> <file with the instance ids>` and serves until SIGTERM. Each instance's final
activity appends `instance_id time` to $BENCH_DONE_FILE."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from romancy_cli.serve import Server

from .sys_romancy import open_app, warm_up


def _exit_with_parent() -> None:
    """Do not outlive the measuring process (e.g. killed at its timeout)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def main(argv: list[str]) -> int:
    database, n, mode = argv[0], int(argv[1]), argv[2]
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" under load
    app = open_app(os.path.dirname(database), os.path.basename(database), mode)
    warm_up(app)
    ids = [app.start("bench_pay", i) for i in range(n)]
    id_file = database + ".ids"
    with open(id_file, "w") as handle:
        handle.write("\n".join(ids))
    server = Server(app, host="127.0.0.1", port=0)
    server.bind()
    sys.stdout.write(f"READY {server.port} {id_file}\n")
    sys.stdout.flush()
    server.serve_forever()
    app.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

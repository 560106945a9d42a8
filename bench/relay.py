"""The outbox relay: events relayed per second to a local receiver, and the delay from the commit
of the publishing step to the receiver's 202 (p50/p99).

    python -m bench.relay [-n 2000] [--latency-n 300] [--mode binary|structured]

The receiver is a separate process (http.server, answering 202 and logging each event id with
the time it answered); the relay runs in this process on a fresh SQLite file."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from romancy_cli import App, Registry, send_event, workflow
from romancy_cli.config import OutboxSettings
from romancy_cli.relay import Relay

RECEIVER = r'''
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
log = open(sys.argv[1], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
        event_id = self.headers["ce-id"] or json.loads(body)["id"]  # binary, or structured
        log.write(f"{event_id} {time.time()}\n")
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
'''

registry = Registry()


@workflow("bench_burst", registry=registry)
def burst(ctx, count: int) -> int:
    for n in range(count):
        send_event(ctx, "bench.done", {"n": n})
    return count


@workflow("bench_one", registry=registry)
def one(ctx, n: int) -> str:
    return send_event(ctx, "bench.one", {"n": n})


def _throughput(app: App, settings: OutboxSettings, count: int) -> float:
    app.start("bench_burst", count)  # one commit queues them all
    began = time.perf_counter()
    Relay(app, settings).relay_due()
    return count / (time.perf_counter() - began)


def _latencies(app: App, settings: OutboxSettings, count: int, log: Path) -> list[float]:
    """Publish one event at a time while serve's relay loop runs; commit time is the event's
    stored time (taken inside the publishing transaction)."""
    stop = threading.Event()
    relay = threading.Thread(target=Relay(app, settings).run, args=(stop,), daemon=True)
    relay.start()
    ids = []
    for n in range(count):
        ids.append(app.start("bench_one", n) + ":0")
        time.sleep(0.01)  # one at a time: the delay of each event, not of a queue behind it
    deadline = time.monotonic() + 60
    while len(app.list_outbox("sent")) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    relay.join()
    committed = {item.event.id: item.event.received_at for item in app.list_outbox()}
    answered = dict(line.split() for line in log.read_text().splitlines())
    return [float(answered[i]) - committed[i] for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--latency-n", type=int, default=300)
    parser.add_argument("--mode", default="binary", choices=("binary", "structured"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "received.log"
        receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(log)], stdout=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/"  # type: ignore[union-attr]
            settings = OutboxSettings(url=url, mode=args.mode)
            with App(database=str(Path(folder) / "burst.db"), registry=registry, outbox_url=url) as app:
                rate = _throughput(app, settings, args.n)
            with App(database=str(Path(folder) / "one.db"), registry=registry, outbox_url=url) as app:
                delays = sorted(_latencies(app, settings, args.latency_n, log))
        finally:
            receiver.terminate()
            receiver.wait()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"relayed {args.n} events ({args.mode}): {rate:,.0f} events/s")
    print(f"commit -> 202 over {len(delays)} events: p50 {statistics.median(delays) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")


if __name__ == "__main__":
    main()

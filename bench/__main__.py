"""`python -m bench`: run the workloads for each system and print one table.

    python -m bench                       # N=1000, 3 runs, every installed system
    python -m bench --quick               # smoke run: small N, 1 run (CI)
    python -m bench --systems romancy,edda -n 2000 --runs 5 --json results.json

Each measurement runs in a fresh subprocess (bench.worker) on its own SQLite file in a temporary
folder; runs of the systems are interleaved so that background noise spreads over all of them.
Edda runs in the interpreter BENCH_EDDA_PYTHON names (a venv of its own: its cloudevents<2 pin
conflicts with romancy_cli's); without it the Edda column is skipped."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .common import RESULT_PREFIX, version_of

SYSTEMS = ("romancy", "edda", "dbos")
IMPORT_NAMES = {"romancy": "romancy_cli", "edda": "edda", "dbos": "dbos"}
DISTRIBUTIONS = {"romancy": "romancy-cli", "edda": "edda-framework", "dbos": "dbos"}
INTERPRETERS = {"edda": "BENCH_EDDA_PYTHON"}  # systems whose workers run in another venv's python
VERSION_CODE = ("import importlib, importlib.metadata as m, sys; "
                "importlib.import_module(sys.argv[1]); print(m.version(sys.argv[2]))")
REPORTED = "reported elsewhere: Edda 0.16.2 W1 36/s, W2 7.5/s; DBOS 3.4.0 W1 86/s, W2 127/s"


@dataclass
class Column:
    key: str  # results key
    label: str
    system: str
    mode: str
    n: int
    tasks: list[tuple[str, str, int]]  # per run: (task, system, n)
    once: list[tuple[str, str, int]]  # first run only
    status: str = "ok"  # ok | not installed | skipped
    note: str = ""  # why it was skipped
    version: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Row:
    label: str
    key: str
    target: str
    fmt: Callable[[float], str]
    lower_is_better: bool = False


def _rate(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def _ms(v: float) -> str:
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def _count(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _mib(v: float) -> str:
    return f"{v:,.2f}" if v < 10 else f"{v:,.0f}"


ROWS = [
    Row("W1 start → waiting (starts/s)", "w1_rate", "≥ 2,500 (≥ 1,000 FULL)", _rate),
    Row("W2 deliver → completed (/s)", "w2_rate", "≥ 2,500", _rate),
    Row("W3 timers: completions/s", "w3_rate", "≥ 2,500", _rate),
    Row("W3 wake-up tail (ms past last due)", "w3_tail_ms", "≤ 50", _ms, True),
    Row("W3 lateness p99 (ms)", "w3_late_p99_ms", "", _ms, True),
    Row("RSS growth per 10,000 waiting (MiB)", "mem_per_10k_mib", "≤ 1", _mib, True),
    Row("write txns per start → wait", "tx_start", "1", _count, True),
    Row("write txns per deliver → complete", "tx_deliver", "1", _count, True),
    Row("write txns per schedule slot (one activity)", "tx_slot", "", _count, True),
    Row("schedule slot lateness p50 (ms)", "sched_late_p50_ms", "", _ms, True),
    Row("schedule slot lateness max (ms)", "sched_late_max_ms", "", _ms, True),
    Row("HTTP events/s accepted (8 clients)", "http_rate", "≥ 1,500", _rate),
    Row("HTTP 202 latency p50 (ms)", "http_202_p50_ms", "≤ 10", _ms, True),
    Row("HTTP 202 latency p99 (ms)", "http_202_p99_ms", "≤ 50", _ms, True),
    Row("HTTP 202 → completed p50 (ms)", "http_done_p50_ms", "", _ms, True),
    Row("HTTP 202 → completed p99 (ms)", "http_done_p99_ms", "", _ms, True),
    Row("ceiling: same clients, GET /health/live (req/s)", "http_ceiling_rate", "", _rate),
    Row("limit: raw sqlite3 txn/s (insert+update)", "raw_rate", "", _rate),
]


def installed(system: str) -> bool:
    try:
        return importlib.util.find_spec(IMPORT_NAMES[system]) is not None
    except (ImportError, ValueError):
        return False


def plan(args: argparse.Namespace) -> list[Column]:
    n, other, mem_n, tx_n = args.n, args.other_n, args.memory_n, args.tx_n
    columns: list[Column] = []
    for system in args.systems:
        if system == "romancy":
            for mode in args.modes:
                tasks = [("core", "romancy", n), ("http", "romancy", n), ("limit", "sqlite", n)]
                if mode == args.modes[0]:
                    tasks.insert(1, ("memory", "romancy", mem_n))
                label = "romancy" if mode == "normal" else f"romancy {mode.upper()}"
                columns.append(Column(f"romancy-{mode}", label, "romancy", mode, n, tasks,
                                      [("txcount", "romancy", tx_n)]))
        else:
            columns.append(Column(system, system, system, "default", other,
                                  [("core", system, other), ("memory", system, other)],
                                  [("txcount", system, min(tx_n, other))]))
    for column in columns:
        column.status, column.version = probe(column.system)
        if column.status == "skipped":
            column.note = (f"{INTERPRETERS[column.system]} is not set: the python of a venv with "
                           f"{DISTRIBUTIONS[column.system]} installed (bench/README.md)")
            log(f"{column.label}: skipped, {column.note}")
        elif column.status == "ok" and column.system != "romancy":
            column.label = f"{column.system} {column.version}"
    return columns


def interpreter(system: str) -> Optional[str]:
    """The python that runs `system`'s workers: this one, or the one its variable names (None: unset)."""
    variable = INTERPRETERS.get(system)
    return (os.environ.get(variable) or None) if variable else sys.executable


def probe(system: str) -> tuple[str, str]:
    """(status, version) of `system` in the interpreter that runs it."""
    python = interpreter(system)
    if python is None:
        return "skipped", ""
    if python == sys.executable:
        return ("ok", version_of(DISTRIBUTIONS[system]) or "?") if installed(system) else ("not installed", "")
    try:
        proc = subprocess.run([python, "-c", VERSION_CODE, IMPORT_NAMES[system], DISTRIBUTIONS[system]],
                              capture_output=True, text=True, timeout=60)
    except OSError:
        return "not installed", ""
    return ("ok", proc.stdout.strip() or "?") if proc.returncode == 0 else ("not installed", "")


def run_task(task: str, system: str, mode: str, n: int, timeout: float, verbose: bool) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix=f"bench-{system}-{task}-", dir=os.environ.get("BENCH_TMP"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run(
            [interpreter(system) or sys.executable, "-m", "bench.worker", task, system, mode, str(n), folder],
            capture_output=True, text=True, timeout=timeout, cwd=root, env=env,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{system} {task}: timed out after {timeout:.0f} s") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if verbose and proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"{system} {task} (exit {proc.returncode}): {tail}")


def measure(columns: list[Column], args: argparse.Namespace) -> None:
    active = [c for c in columns if c.status == "ok"]
    for run in range(args.runs):
        for column in active:
            results: dict[str, Any] = {}
            tasks = column.tasks + (column.once if run == 0 else [])
            for task, system, n in tasks:
                label = f"[run {run + 1}/{args.runs}] {column.label}: {task} n={n}"
                log(label + " ...", end="")
                started = time.perf_counter()
                try:
                    result = run_task(task, system, column.mode, n, args.timeout, args.verbose)
                except Exception as exc:  # a failed system must not stop the others
                    column.errors.append(str(exc))
                    log(f" error: {exc}")
                    continue
                log(f" {time.perf_counter() - started:.1f} s")
                result.pop("elapsed_s", None)
                if task == "limit":
                    result["limit_sqlite_version"] = result.pop("sqlite_version", None)
                    result.pop("version", None)
                results.update(result)
            column.runs.append(results)


def log(text: str, end: str = "\n") -> None:
    sys.stderr.write(text + end)
    sys.stderr.flush()


def cell(column: Column, row: Row) -> str:
    if column.status != "ok":
        return column.status
    values = [r[row.key] for r in column.runs if r.get(row.key) is not None]
    if not values:
        return "error" if column.errors else "—"
    median = statistics.median(values)
    text = row.fmt(median)
    if len(values) > 1:
        text += f" ({row.fmt(min(values))}–{row.fmt(max(values))})"
    return text


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}")


def render(columns: list[Column], args: argparse.Namespace, command: str) -> str:
    headers = ["workload"] + [c.label for c in columns] + ["target"]
    rows = [[r.label] + [cell(c, r) for c in columns] + [r.target] for r in ROWS]
    widths = [max(len(line[i]) for line in [headers] + rows) for i in range(len(headers))]

    def line(parts: list[str]) -> str:
        return "| " + " | ".join(p.ljust(w) for p, w in zip(parts, widths)) + " |"

    out = [f"romancy bench — {time.strftime('%Y-%m-%d %H:%M')} — `{command}`",
           f"machine: {machine()}",
           f"runs: {args.runs}; cells: median (min–max); N: "
           + ", ".join(f"{c.label}={c.n}" for c in columns if c.status == "ok")
           + f"; memory N: romancy={args.memory_n}, others=their N (scaled to 10,000)",
           "", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    out.append("")
    versions = [f"{c.label.split()[0]} {c.version}" for c in columns if c.status == "ok"]
    seen: set[str] = set()
    out.append("versions: " + ", ".join(v for v in versions if not (v in seen or seen.add(v))))  # type: ignore[func-returns-value]
    present = {c.system for c in columns if c.status == "ok"}
    notes = ["W3 is driven by serve's timer loop (tick, then nap until the next due time, at most "
             "0.5 s); its completions/s is N / time spent inside the timer driver, its tail is "
             "(last completion − last due time)",
             "RSS row: fresh process, VmRSS after − before starting N waiting instances "
             "(scaled to 10,000 where N differs)",
             "HTTP: Server of `romancy serve` in a subprocess, 8 client threads (keep-alive sockets, bench/http_client.py), "
             "structured CloudEvents targeted with romancyinstanceid (the ceiling row: the same clients "
             "on a route without database work); completion time is written by "
             "the workflow's last activity, so 202 → completed can be negative when the worker "
             "finished before the client read the 202; the server writes the completion with the "
             "next event's transaction (or at once when no request is queued)",
             "limit row: raw sqlite3, WAL, the column's synchronous mode, one ~300-byte insert + one "
             "update per transaction"]
    if "edda" in present:
        notes.append("edda: its background loops (resume every 1 s, 10 at a time; timers every 10 s) "
                     "are replaced by the harness calling the same methods at once (timers polled "
                     "every 50 ms); its default SQLite settings (rollback journal)")
    if "dbos" in present:
        notes.append("dbos: each workflow runs in its own thread and sleeps/waits there; W3 completions/s "
                     "is N / (last completion − first due); 'waiting' = recv registered its waiter; "
                     "default SQLite settings")
    out.append("notes:")
    out += [f"  - {note}" for note in notes]
    out.append(REPORTED)
    for column in columns:
        if column.note:
            out.append(f"skipped ({column.label}): {column.note}")
        for error in dict.fromkeys(column.errors):
            out.append(f"error ({column.label}): {error}")
    return "\n".join(out)


def cli_latency(args: argparse.Namespace) -> Optional[str]:
    """The cold-process CLI table of bench/cli_startup.py (another engineer's script), if present."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_startup.py")
    if not os.path.exists(script):
        return None
    log(f"[cli] bench/cli_startup.py --runs {args.cli_runs} ...", end="")
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, script, "--runs", str(args.cli_runs)],
                              capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        log(" timed out")
        return "CLI latency: timed out"
    log(f" {time.perf_counter() - started:.1f} s")
    if proc.returncode != 0:
        return f"CLI latency: bench/cli_startup.py failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return proc.stdout.rstrip()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small N, 1 run")
    parser.add_argument("--systems", default=None,
                        help="comma-separated: romancy,edda,dbos (default: all; --quick: romancy)")
    parser.add_argument("-n", type=int, default=None, help="instances per workload (default 1000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per cell (default 3)")
    parser.add_argument("--other-n", type=int, default=None,
                        help="N for edda/dbos, which run ~30-100 starts/s (default min(N, 200))")
    parser.add_argument("--memory-n", type=int, default=None,
                        help="waiting instances for romancy's memory run (default 10000)")
    parser.add_argument("--tx-n", type=int, default=None, help="instances for txn counting (default 50)")
    parser.add_argument("--modes", default="normal,full",
                        help="romancy synchronous modes, comma-separated (default normal,full)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per measurement process")
    parser.add_argument("--cli", action=argparse.BooleanOptionalAction, default=None,
                        help="also run bench/cli_startup.py (cold CLI latency); default: on, off with --quick")
    parser.add_argument("--cli-runs", type=int, default=10, help="runs per CLI command (default 10)")
    parser.add_argument("--json", metavar="PATH", help="also write every run's raw numbers here")
    parser.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    args = parser.parse_args(argv)
    systems = args.systems or ("romancy" if args.quick else ",".join(SYSTEMS))
    args.systems = [s.strip() for s in systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    quick = args.quick
    args.n = args.n or (30 if quick else 1000)
    args.runs = args.runs or (1 if quick else 3)
    args.other_n = args.other_n or min(args.n, 10 if quick else 200)
    args.memory_n = args.memory_n or (300 if quick else 10_000)
    args.tx_n = args.tx_n or (5 if quick else 50)
    args.timeout = args.timeout or (120.0 if quick else 900.0)
    if args.cli is None:
        args.cli = not quick
    return args


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    columns = plan(args)
    started = time.perf_counter()
    measure(columns, args)
    cli = cli_latency(args) if args.cli else None
    command = "python -m bench" + ("" if not argv else " " + " ".join(argv))
    print(render(columns, args, command))
    if cli:
        print("\n" + cli)
    log(f"total {time.perf_counter() - started:.1f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": command, "machine": machine(), "cli": cli,
                       "columns": [{"label": c.label, "system": c.system, "mode": c.mode, "n": c.n,
                                    "status": c.status, "version": c.version, "runs": c.runs,
                                    "errors": c.errors} for c in columns]}, handle, indent=2)
    # Our own system failing is a failure of the run; another system failing is reported only.
    return 1 if any(c.errors for c in columns if c.system == "romancy") else 0


if __name__ == "__main__":
    sys.exit(main())

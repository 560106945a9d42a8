"""Cold-process latency of the `romancy` command line.

    python bench/cli_startup.py [--runs 10]

Each command runs as a whole new process (interpreter start, imports, config, database open,
the work, exit) on a temporary project, `--runs` times; the table shows the median, fastest and
slowest in milliseconds. `python -c pass` and `import romancy_cli` are shown as floors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKFLOWS = '''
from romancy_cli import activity, wait_event, workflow


@activity
def reserve(ctx, order_id: str) -> dict:
    return {"order_id": order_id}


@workflow
def order(ctx, order_id: str) -> dict:
    reserve.execute(ctx, order_id)
    event = wait_event(ctx, "paid", match={"order_id": order_id})
    return {"order_id": order_id, "amount": event.data["amount"]}
'''


def romancy() -> str:
    candidate = Path(sys.executable).parent / "romancy"
    return str(candidate) if candidate.exists() else "romancy"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROMANCY_")}
    env["NO_COLOR"] = "1"
    # As installed for users: bytecode cached (some sandboxes set PYTHONDONTWRITEBYTECODE, which
    # makes every cold start compile every module: ~40 ms more here). The seeding runs below
    # write the caches before anything is timed.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "romancy.toml").write_text('database = "romancy.db"\nworkflows = ["workflows.py"]\n')
        (root / "workflows.py").write_text(WORKFLOWS)
        exe = romancy()
        seed = subprocess.run([exe, "start", "order", "SEED"], cwd=root, env=env, capture_output=True, text=True)
        instance_id = seed.stdout.strip()
        for n in range(runs):  # instances for the send-event runs to complete, one each
            subprocess.run([exe, "start", "order", f"ORD-{n}"], cwd=root, env=env, capture_output=True)
        cases = [
            ("python -c pass", lambda n: [sys.executable, "-c", "pass"]),
            ("python -c 'import romancy_cli'", lambda n: [sys.executable, "-c", "import romancy_cli"]),
            ("romancy --version", lambda n: [exe, "--version"]),
            ("romancy --help", lambda n: [exe, "--help"]),
            ("romancy status", lambda n: [exe, "status"]),
            ("romancy status ID", lambda n: [exe, "status", instance_id]),
            ("romancy status ID --json", lambda n: [exe, "status", instance_id, "--json"]),
            ("romancy start order X", lambda n: [exe, "start", "order", f"NEW-{n}"]),
            ("romancy send-event paid --data ...", lambda n: [
                exe, "send-event", "paid", "--data", json.dumps({"order_id": f"ORD-{n}", "amount": 1})]),
        ]
        rows = []
        for label, make in cases:
            samples = [timed(make(n), root, env) for n in range(runs)]
            rows.append((label, statistics.median(samples), min(samples), max(samples)))
    width = max(len(r[0]) for r in rows)
    print(f"cold process latency, {runs} runs each (ms), python {sys.version.split()[0]}")
    print(f"{'command':<{width}}  {'median':>7}  {'min':>7}  {'max':>7}")
    for label, median, low, high in rows:
        print(f"{label:<{width}}  {median:7.1f}  {low:7.1f}  {high:7.1f}")


if __name__ == "__main__":
    main()

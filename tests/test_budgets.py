"""Statement, transaction and WAL budgets of the hot paths (ARCHITECTURE.md, Budgets), counted on
a real SQLite file through the driver's trace callback and the -wal file's growth with
autocheckpoint off. A change that needs more fails here, naming the budget; raise one only
with the reason written in ARCHITECTURE.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from romancy_cli import App, ManualClock, Registry, activity, wait_event, workflow

registry = Registry()
N = 50  # operations measured; the figures are means


@dataclass(frozen=True)
class Budget:
    statements: float
    transactions: float
    wal_kib: float


# What each operation costs today (means over N); ARCHITECTURE.md gives the aims of issue 22.
BUDGETS = {
    "start -> waiting (one activity)": Budget(5, 1, 28),
    "targeted delivery -> completed": Budget(5, 1, 46),
    "matched delivery -> completed, 2,000 others waiting": Budget(11, 1, 46),
}


@activity(registry=registry)
def reserve(ctx: Any, order: int) -> dict:
    return {"order": order}


@workflow("budget_order", registry=registry)
def budget_order(ctx: Any, order: int) -> dict:
    reserve.execute(ctx, order)
    return wait_event(ctx, "budget.paid", match={"order": order}).data


@workflow("budget_other", registry=registry)
def budget_other(ctx: Any, n: int) -> None:
    wait_event(ctx, "budget.other", match={"n": n})


class Counter:
    """Statements and transactions a connection runs, and what its WAL grows by."""

    def __init__(self, app: App, path: str) -> None:
        self.path = path + "-wal"
        self.conn = app.store.db.connection()
        self.conn.execute("PRAGMA wal_autocheckpoint = 0")
        self.seen: list[str] = []
        self.conn.set_trace_callback(self.seen.append)

    def measure(self, operation: Callable[[int], Any]) -> Budget:
        self.seen.clear()
        wal = os.path.getsize(self.path)
        for i in range(N):
            operation(i)
        grown = os.path.getsize(self.path) - wal
        transactions = sum(1 for s in self.seen if s.startswith("BEGIN"))
        statements = sum(1 for s in self.seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT",
                                                                   "RELEASE")))
        return Budget(statements / N, transactions / N, grown / N / 1024)


@pytest.fixture
def counted(tmp_path: Path) -> Iterator[tuple[App, Counter]]:
    path = str(tmp_path / "budget.db")
    with App(database=path, worker_id="budget", clock=ManualClock(1_700_000_000.0), registry=registry) as app:
        for i in range(5):  # warm: the tables have pages, the statements are cached
            app.send_event("budget.paid", {"order": -1}, instance=app.start("budget_order", -1 - i))
        yield app, Counter(app, path)


def _within(name: str, got: Budget) -> None:
    budget = BUDGETS[name]
    assert got.statements <= budget.statements, f"{name}: {got.statements} statements, budget {budget.statements}"
    assert got.transactions <= budget.transactions, \
        f"{name}: {got.transactions} transactions, budget {budget.transactions}"
    assert got.wal_kib <= budget.wal_kib, f"{name}: {got.wal_kib:.1f} KiB of WAL, budget {budget.wal_kib}"


def test_a_start_that_waits_after_one_activity(counted: tuple[App, Counter]) -> None:
    app, counter = counted
    started: list[str] = []
    _within("start -> waiting (one activity)", counter.measure(lambda i: started.append(app.start("budget_order", i))))
    assert {app.get(iid).status for iid in started} == {"waiting_for_event"}


def test_a_targeted_delivery_that_completes(counted: tuple[App, Counter]) -> None:
    app, counter = counted
    started = [app.start("budget_order", i) for i in range(N)]
    got = counter.measure(lambda i: app.send_event("budget.paid", {"order": i}, instance=started[i]))
    _within("targeted delivery -> completed", got)
    assert {app.get(iid).status for iid in started} == {"completed"}


def test_a_matched_delivery_that_completes_among_many_waiting(counted: tuple[App, Counter]) -> None:
    app, counter = counted
    for n in range(2000):
        app.start("budget_other", n)
    started = [app.start("budget_order", i) for i in range(N)]
    got = counter.measure(lambda i: app.send_event("budget.paid", {"order": i}))
    _within("matched delivery -> completed, 2,000 others waiting", got)
    assert {app.get(iid).status for iid in started} == {"completed"}

"""DBOS with its natural API: @DBOS.workflow/@DBOS.step, DBOS.recv/DBOS.send, DBOS.sleep.

A DBOS workflow runs in a thread of its own, and a waiting one keeps its thread blocked in
DBOS.recv (or time.sleep inside DBOS.sleep). "Waiting" is counted when recv has registered its
waiter (DBOS's in-process notifications map), after its step and its durable timeout are written."""

from __future__ import annotations

import gc
import logging
import os
import time
from typing import Any

from dbos import DBOS

from .common import (DONE, EVENT_TYPE, SLEEP_SECONDS, WARMUP, memory_result, per_instance,
                     rss_bytes, timer_metrics, TxCounter, version_of, wait_until)

RECV_TIMEOUT = 3600.0


@DBOS.step()
def dbos_begin(order: int) -> dict:
    return {"order": order, "payment_id": f"PAY-{order}", "status": "pending"}


@DBOS.step()
def dbos_done(key: str) -> float:
    return DONE.mark(key)


@DBOS.workflow()
def dbos_pay(order: int) -> dict:
    begun = dbos_begin(order)
    paid = DBOS.recv(EVENT_TYPE, timeout_seconds=RECV_TIMEOUT)
    dbos_done(DBOS.workflow_id or "")
    return {"begun": begun, "paid": paid}


@DBOS.workflow()
def dbos_sleep(order: int) -> int:
    DBOS.sleep(SLEEP_SECONDS)
    dbos_done(DBOS.workflow_id or "")
    return order


def version() -> str:
    return version_of("dbos") or "?"


def _launch(folder: str, name: str) -> None:
    DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{os.path.join(folder, name)}",
                 "log_level": "WARNING"})
    DBOS.launch()
    logging.getLogger("dbos").setLevel(logging.WARNING)


def _waiters() -> int:
    import dbos._dbos as internals

    instance = internals._dbos_global_instance
    return len(instance._sys_db.notifications_map._dict) if instance is not None else 0


def _start_waiting(orders: range) -> list[str]:
    before = _waiters()
    handles = [DBOS.start_workflow(dbos_pay, i) for i in orders]
    if not wait_until(lambda: _waiters() - before >= len(handles), timeout=600):
        raise RuntimeError("W1: DBOS workflows did not reach recv")
    return [h.workflow_id for h in handles]


def _deliver_all(ids: list[str]) -> None:
    for i, wid in enumerate(ids):
        DBOS.send(wid, {"order_id": f"ORD-{i}", "transaction_id": f"TXN-{i}", "amount": 99.99},
                  topic=EVENT_TYPE)
    if not wait_until(lambda: DONE.count(ids) >= len(ids), timeout=600):
        raise RuntimeError("W2: DBOS workflows did not complete")


def core(n: int, mode: str, folder: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _launch(folder, "dbos.sqlite")
    try:
        _deliver_all(_start_waiting(range(-WARMUP, 0)))
        gc.collect()
        t0 = time.perf_counter()
        ids = _start_waiting(range(n))
        t1 = time.perf_counter()
        out["w1_rate"] = n / (t1 - t0)
        DONE.clear()
        t2 = time.perf_counter()
        _deliver_all(ids)
        t3 = time.perf_counter()
        out["w2_rate"] = n / (t3 - t2)
        DONE.clear()
        dues: dict[str, float] = {}
        for i in range(n):
            handle = DBOS.start_workflow(dbos_sleep, i)
            dues[handle.workflow_id] = time.time() + SLEEP_SECONDS
        if not wait_until(lambda: DONE.count(dues) >= n, timeout=600):
            raise RuntimeError("W3: DBOS workflows did not complete")
        out.update(timer_metrics(dues, dict(DONE.times), None))
    finally:
        DBOS.destroy()
    return out


def memory(n: int, mode: str, folder: str) -> dict[str, Any]:
    _launch(folder, "mem.sqlite")
    try:
        _deliver_all(_start_waiting(range(-WARMUP, 0)))
        gc.collect()
        before = rss_bytes()
        _start_waiting(range(n))
        gc.collect()
        after = rss_bytes()
        return memory_result(n, before, after)
    finally:
        DBOS.destroy()


def txcount(n: int, mode: str, folder: str) -> dict[str, Any]:
    counter = TxCounter()
    counter.install()
    _launch(folder, "tx.sqlite")
    try:
        _deliver_all(_start_waiting(range(-WARMUP, 0)))
        s0 = counter.snapshot()
        ids = _start_waiting(range(n))
        s1 = counter.snapshot()
        _deliver_all(ids)
        s2 = counter.snapshot()
        start, deliver = per_instance(s0, s1, n), per_instance(s1, s2, n)
        return {"tx_start": start["write_txns"], "tx_start_begins": start["begins"],
                "tx_deliver": deliver["write_txns"], "tx_deliver_begins": deliver["begins"]}
    finally:
        DBOS.destroy()

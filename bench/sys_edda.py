"""Edda (edda-framework) with its natural API: @workflow/@activity, wait_event, sleep, CloudEvents.

Edda resumes instances from background loops (every 1 s, 10 at a time; timers every 10 s, on the
leader). The harness cancels those loops and drives the same code paths itself, as fast as they go:
`_resume_running_workflows()` after deliveries and `_check_expired_timers()` every 50 ms."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from typing import Any

from cloudevents.http import CloudEvent
from edda import EddaApp, WorkflowContext, activity, sleep, wait_event, workflow

from .common import (DONE, EVENT_TYPE, SLEEP_SECONDS, WARMUP, memory_result, per_instance,
                     rss_bytes, timer_metrics, TxCounter, version_of)

TIMER_POLL = 0.05
logging.getLogger("edda").setLevel(logging.WARNING)


@activity
async def edda_begin(ctx: WorkflowContext, order: int) -> dict:
    return {"order": order, "payment_id": f"PAY-{order}", "status": "pending"}


@activity
async def edda_done(ctx: WorkflowContext, key: str) -> float:
    return DONE.mark(key)


@workflow
async def edda_pay(ctx: WorkflowContext, order: int) -> dict:
    begun = await edda_begin(ctx, order)
    event = await wait_event(ctx, EVENT_TYPE)
    await edda_done(ctx, ctx.instance_id)
    return {"begun": begun, "paid": event.data}


@workflow
async def edda_sleep(ctx: WorkflowContext, order: int) -> int:
    await sleep(ctx, int(SLEEP_SECONDS))
    await edda_done(ctx, ctx.instance_id)
    return order


def version() -> str:
    return version_of("edda-framework") or "?"


async def _open(folder: str, name: str) -> EddaApp:
    app = EddaApp(service_name="bench", db_url=f"sqlite:///{os.path.join(folder, name)}",
                  max_workflows_per_batch=100)
    await app.initialize()
    for task in app._background_tasks:  # the harness drives resumption itself
        task.cancel()
    await asyncio.gather(*app._background_tasks, return_exceptions=True)
    app._background_tasks.clear()
    return app


def _event(instance_id: str, i: int) -> CloudEvent:
    return CloudEvent({"type": EVENT_TYPE, "source": "bench", "eddainstanceid": instance_id},
                      {"order_id": f"ORD-{i}", "transaction_id": f"TXN-{i}", "amount": 99.99})


async def _deliver_all(app: EddaApp, ids: list[str]) -> None:
    for i, iid in enumerate(ids):
        await app.handle_cloudevent(_event(iid, i), wait=True)
    while DONE.count(ids) < len(ids):
        if await app._resume_running_workflows() == 0:
            await asyncio.sleep(0.001)


async def _warm_up(app: EddaApp) -> None:
    ids = [await edda_pay.start(order=-i - 1) for i in range(WARMUP)]
    await _deliver_all(app, ids)


async def _core(n: int, folder: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    app = await _open(folder, "w12.db")
    try:
        await _warm_up(app)
        gc.collect()
        t0 = time.perf_counter()
        ids = [await edda_pay.start(order=i) for i in range(n)]
        t1 = time.perf_counter()
        statuses = [(await app.storage.get_instance(iid))["status"] for iid in ids]
        if any(status != "waiting_for_message" for status in statuses):
            raise RuntimeError(f"W1: not all waiting: {set(statuses)}")
        out["w1_rate"] = n / (t1 - t0)
        DONE.clear()
        t2 = time.perf_counter()
        await _deliver_all(app, ids)
        t3 = time.perf_counter()
        out["w2_rate"] = n / (t3 - t2)
    finally:
        await app.shutdown()
    app = await _open(folder, "w3.db")
    try:
        DONE.clear()
        dues: dict[str, float] = {}
        for i in range(n):
            iid = await edda_sleep.start(order=i)
            dues[iid] = time.time() + SLEEP_SECONDS
        busy = 0.0
        while DONE.count(dues) < n:
            t = time.perf_counter()
            await app._check_expired_timers()
            busy += time.perf_counter() - t
            await asyncio.sleep(TIMER_POLL)
        out.update(timer_metrics(dues, dict(DONE.times), busy))
    finally:
        await app.shutdown()
    return out


def core(n: int, mode: str, folder: str) -> dict[str, Any]:
    return asyncio.run(_core(n, folder))


async def _memory(n: int, folder: str) -> dict[str, Any]:
    app = await _open(folder, "mem.db")
    try:
        await _warm_up(app)
        gc.collect()
        before = rss_bytes()
        for i in range(n):
            await edda_pay.start(order=i)
        gc.collect()
        after = rss_bytes()
        return memory_result(n, before, after)
    finally:
        await app.shutdown()


def memory(n: int, mode: str, folder: str) -> dict[str, Any]:
    return asyncio.run(_memory(n, folder))


async def _txcount(n: int, folder: str, counter: TxCounter) -> dict[str, Any]:
    app = await _open(folder, "tx.db")
    try:
        await _warm_up(app)
        s0 = counter.snapshot()
        ids = [await edda_pay.start(order=i) for i in range(n)]
        s1 = counter.snapshot()
        await _deliver_all(app, ids)
        s2 = counter.snapshot()
        start, deliver = per_instance(s0, s1, n), per_instance(s1, s2, n)
        return {"tx_start": start["write_txns"], "tx_start_begins": start["begins"],
                "tx_deliver": deliver["write_txns"], "tx_deliver_begins": deliver["begins"]}
    finally:
        await app.shutdown()


def txcount(n: int, mode: str, folder: str) -> dict[str, Any]:
    counter = TxCounter()
    counter.install()
    return asyncio.run(_txcount(n, folder, counter))

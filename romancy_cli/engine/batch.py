"""Outcomes of runs written together: the runs one tick fired, in one transaction instead of one
each; the runs `serve` resumes after events, in the transaction of the next event it stores
(serve.py says when it writes them sooner).

A run's outcome joins a batch when nothing can come back from its commit: it completed, failed
or now sleeps (an event wait commits at once, as it may find its event already stored). Outcomes
wait at most grace.GRACE to be written: a slow activity of a later run, or no next event, does not
hold them back longer. A crash before they are written leaves those instances leased to a dead
process, to be recovered and their last activities run again, as activities are at-least-once.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from ..records import Delivery, Step, Transition
from .grace import after_grace, cancel as cancel_grace
from .ports import Outcome


class OutcomeBatch:
    def __init__(self, write: Callable[[list[Outcome]], list[str]]) -> None:
        self._write = write  # -> the instances not written (their lease was lost)
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._grace: Optional[int] = None
        self._error: Optional[BaseException] = None
        self.lost: list[str] = []

    def add(self, instance_id: str, steps: list[Step], transition: Transition) -> None:
        with self._lock:
            self._outcomes.append((instance_id, steps, transition))
            if self._grace is None:
                self._grace = after_grace(self._write_in_grace_thread)

    def carry(self, deliver: Callable[[list[Outcome]], Delivery]) -> Delivery:
        """Have a delivery of this worker write the pending outcomes in its transaction. If it
        fails, they are pending again."""
        with self._lock:
            self._end_grace()
            outcomes, self._outcomes = self._outcomes, []
        try:
            delivery = deliver(outcomes)
        except BaseException:
            with self._lock:
                self._outcomes[:0] = outcomes
                if self._outcomes and self._grace is None:
                    self._grace = after_grace(self._write_in_grace_thread)
            raise
        with self._lock:
            self.lost += delivery.lost
        return delivery

    def flush(self) -> list[str]:
        """Write what is pending; returns the instances whose lease was lost since the last flush."""
        with self._lock:
            self._write_pending()
            error, self._error = self._error, None
            lost, self.lost = self.lost, []
        if error is not None:
            raise error
        return lost

    def _write_in_grace_thread(self) -> None:
        with self._lock:
            try:
                self._write_pending()
            except BaseException as exc:  # noqa: BLE001 - flush() raises it in the run's thread
                self._error = exc

    def _end_grace(self) -> None:
        if self._grace is not None:
            cancel_grace(self._grace)
            self._grace = None

    def _write_pending(self) -> None:
        self._end_grace()
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        try:
            self.lost += self._write(outcomes)
        except BaseException:  # kept, to be written by the next flush
            self._outcomes[:0] = outcomes
            raise

"""The outcomes of the runs one tick fired, written together: one transaction for a batch of
completions instead of one each.

A run's outcome joins the batch when nothing can come back from its commit: it completed, failed
or now sleeps (an event wait commits at once, as it may find its event already stored). Outcomes
wait at most grace.GRACE for the batch to end: a slow activity of a later run does not hold them
back longer. A crash before they are written leaves those instances leased to a dead process, to
be recovered and their last activities run again, as activities are at-least-once.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from ..records import Step, Transition
from .grace import after_grace, cancel as cancel_grace

Outcome = tuple[str, list[Step], Transition]


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

    def flush(self) -> list[str]:
        """Write what is pending; returns every instance of the batch whose lease was lost."""
        with self._lock:
            self._write_pending()
            error, self._error = self._error, None
        if error is not None:
            raise error
        return self.lost

    def _write_in_grace_thread(self) -> None:
        with self._lock:
            try:
                self._write_pending()
            except BaseException as exc:  # noqa: BLE001 - flush() raises it in the run's thread
                self._error = exc

    def _write_pending(self) -> None:
        if self._grace is not None:
            cancel_grace(self._grace)
            self._grace = None
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            self.lost += self._write(outcomes)

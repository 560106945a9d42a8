"""Progress bars of long operations (`prune`, `replay --check`, `send-event --batch`): on a
terminal only, from the start of one that covers more than PROGRESS_FROM rows or lines; nothing
in a pipe or with --json, whose output is read by programs."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator, Optional

from . import output
from .state import state

PROGRESS_FROM = 1000

Advance = Callable[[int], None]


def shown(total: int) -> bool:
    """Whether an operation over `total` rows or lines gets a bar."""
    return total > PROGRESS_FROM and sys.stderr.isatty() and not state().json and not state().json_logs


@contextlib.contextmanager
def bar(description: str, total: int) -> Iterator[Advance]:
    """`advance(n)` moves the bar by n of `total` (a no-op where no bar is shown)."""
    if not shown(total):
        yield lambda done: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=output.console(), transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.advance(task, done)


class Reported:
    """For an operation that learns its total as it starts: called as `(done, total)`, it shows a
    bar from the first call whose total gets one; close() ends it."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: Optional[contextlib.ExitStack] = None
        self._advance: Advance = lambda done: None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = contextlib.ExitStack()
            self._advance = self._bar.enter_context(bar(self.description, total))
        self._advance(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


__all__ = ["bar", "shown", "Reported", "PROGRESS_FROM"]

"""`replay --check`: replay recorded histories against the current code to find the instances a
resume would park. Reads only: it stops where history ends, so no activity runs and no step,
time or id is recorded."""

from __future__ import annotations

from typing import Callable, NoReturn, Optional

from ..definitions import Registry, WorkflowDefinition
from ..records import TERMINAL, Instance, Misfit, Step, Wait
from . import replay
from .context import Divergence, WorkflowContext
from .ports import Store

BATCH = 100  # instances read with their histories at a time


class EndOfHistory(BaseException):
    """The code replayed all that was recorded: it fits. A BaseException, like Suspend, so that
    the workflow's own `except Exception` cannot take it."""


class ProbeContext(WorkflowContext):
    """A context that ends the run where history ends instead of executing new steps. `pending`
    is the (kind, name) of the step a waiting instance's wait will fill there: a resume replays
    it from history, so the code must call it (a retried activity's name is not kept: None)."""

    def __init__(self, instance_id: str, definition: WorkflowDefinition, history: list[Step],
                 pending: Optional[tuple[str, Optional[str]]]) -> None:
        # No hooks: a probe never reaches a step history does not answer.
        super().__init__(instance_id, definition.name, history, None, definition.is_async,  # type: ignore[arg-type]
                         definition=definition)
        self.pending = pending

    def _next(self, kind: str, name: str) -> Optional[Step]:
        self._skip_markers()
        if self.cursor >= len(self.history):
            self._reach_end(kind, name)
        return super()._next(kind, name)

    def _reach_end(self, kind: str, name: str) -> NoReturn:
        pending = self.pending
        if pending is not None and (pending[0] != kind or pending[1] not in (None, name)):
            raise Divergence(self.cursor, pending, (kind, name))
        raise EndOfHistory

    def _first_patch(self, patch_id: str) -> bool:
        if self.pending is not None:  # resumed, the wait's own step would stand here: not a marker
            return False
        raise EndOfHistory


def pending_step(wait: Optional[Wait]) -> Optional[tuple[str, Optional[str]]]:
    if wait is None:
        return None
    if wait.kind == "event":
        return "event", wait.event_type or ""
    if wait.kind == "timer":
        return "timer", "sleep"
    return "activity", None


def probe(definition: WorkflowDefinition, instance: Instance, history: list[Step]) -> Optional[Misfit]:
    """The divergence a resume of `instance` would meet under `definition`, None if it fits."""
    ctx = ProbeContext(instance.instance_id, definition, list(history), pending_step(instance.wait))
    try:
        outcome = replay.replay(definition, ctx, instance.args, instance.kwargs)
    except EndOfHistory:
        return None
    if not isinstance(outcome, replay.Diverged):
        return None
    signal = outcome.signal
    return Misfit(instance, signal.seq, signal.recorded, signal.called, str(signal))


def check(store: Store, registry: Registry, workflow: Optional[str] = None,
          instance_id: Optional[str] = None, include_ended: bool = False,
          progress: Optional[Callable[[int, int], None]] = None) -> tuple[int, list[Misfit]]:
    """(instances checked, those that no longer fit), oldest first. `progress(done, total)` is
    called before the first batch and after each."""
    chosen = [i for i in reversed(store.list_instances(None, workflow, None))
              if (instance_id is None or i.instance_id == instance_id)
              and (include_ended or i.status not in TERMINAL)]
    misfits: list[Misfit] = []
    report = progress or (lambda done, total: None)
    report(0, len(chosen))
    for start in range(0, len(chosen), BATCH):
        ids = [i.instance_id for i in chosen[start:start + BATCH]]
        for instance, history in store.get_many(ids):
            misfit = _check_one(registry, instance, history)
            if misfit is not None:
                misfits.append(misfit)
        report(start + len(ids), len(chosen))
    return len(chosen), misfits


def _check_one(registry: Registry, instance: Instance, history: list[Step]) -> Optional[Misfit]:
    definition = registry.workflows.get(instance.workflow)
    if definition is None:
        return Misfit(instance, None, None, None, f"workflow {instance.workflow!r} is not registered in this worker")
    return probe(definition, instance, history)

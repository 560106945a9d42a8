"""@workflow / @activity, RetryPolicy, and the registry of definitions by name."""

from __future__ import annotations

import difflib
import inspect
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from .codec import _adapter, is_exact, refuse_boolean_number, to_plain
from .durations import Duration, to_seconds
from .errors import NotFoundError, UsageError, WorkflowDefinitionError
from .records import QueueSpec

if TYPE_CHECKING:
    from .schedule_spec import ScheduleSpec


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts of an activity; the wait between attempts is a durable timer."""

    max_attempts: int = 3
    initial_interval: Duration = 1.0
    backoff: float = 2.0
    max_interval: Duration = 60.0
    non_retryable: tuple[type[BaseException], ...] = ()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        first = to_seconds(self.initial_interval, "retry initial_interval")
        cap = to_seconds(self.max_interval, "retry max_interval")
        return min(cap, first * self.backoff ** (attempt - 1))

    def retries(self, error: BaseException, attempt: int) -> bool:
        return attempt < self.max_attempts and not isinstance(error, self.non_retryable)


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass
class _Callable:
    name: str
    fn: Callable[..., Any]
    is_async: bool = field(init=False)
    signature: inspect.Signature = field(init=False)

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.fn)
        self.signature = inspect.signature(self.fn)
        self.__doc__ = self.fn.__doc__
        self._hints: Optional[dict[str, Any]] = None
        self._parameters = list(self.signature.parameters.values())[1:]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the plain function, so it can be unit-tested without an engine."""
        return self.fn(*args, **kwargs)

    @property
    def hints(self) -> dict[str, Any]:
        """Resolved type hints, cached once they resolve (a profile found them re-evaluated three
        times per step: a fifth of a start)."""
        if self._hints is None:
            try:
                self._hints = typing.get_type_hints(self.fn)
            except Exception:  # a forward reference not defined yet: no conversion, try again later
                return {}
        return self._hints

    @property
    def parameters(self) -> list[inspect.Parameter]:
        """Parameters after the context."""
        return self._parameters

    def bind(self, args: tuple, kwargs: dict) -> tuple[list[Any], dict[str, Any]]:
        """Check the arguments fit the signature and type hints; raise a usage error naming the
        problem. Returns them as the plain JSON to store, so replay gets what was checked."""
        try:
            bound = self.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise WorkflowDefinitionError(
                f"wrong arguments for {self.name!r}: {exc}; expected ({self.describe_parameters()})"
            ) from None
        hints = self.hints
        simple = {p.name for p in self.parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        checked = {name: self._check_type(name, value, hints.get(name))
                   for name, value in bound.arguments.items() if name in simple}
        positional = [p.name for p in self.parameters][:len(args)]
        plain_args = [checked.get(name, value) for name, value in zip(positional, args)]
        plain_args += [self._plain("*args", value) for value in args[len(plain_args):]]
        return plain_args, {k: checked[k] if k in checked else self._plain(k, v) for k, v in kwargs.items()}

    def _check_type(self, name: str, value: Any, annotation: Any) -> Any:
        if annotation is None:
            return self._plain(name, value)
        if is_exact(value, annotation):
            return to_plain(value)
        try:
            adapter = _adapter(annotation)
        except Exception as exc:  # pydantic cannot build a validator for this type
            raise WorkflowDefinitionError(
                f"workflow {self.name!r}: parameter {name}: type {_type_name(annotation)} cannot be "
                f"read from JSON: {str(exc).splitlines()[0]}"
            ) from None
        try:
            refuse_boolean_number(value, annotation)
            return to_plain(adapter.validate_python(to_plain(value)))
        except Exception as exc:  # pydantic ValidationError, or a value that is not JSON data
            errors = getattr(exc, "errors", None)
            problem = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors(include_url=False)
            ) if callable(errors) else str(exc)
            raise WorkflowDefinitionError(
                f"wrong arguments for {self.name!r}: {name}={value!r} is not a valid "
                f"{_type_name(annotation)} ({problem}); expected ({self.describe_parameters()})"
            ) from None

    def _plain(self, name: str, value: Any) -> Any:
        try:
            return to_plain(value)
        except TypeError as exc:
            raise WorkflowDefinitionError(f"wrong arguments for {self.name!r}: {name}: {exc}") from None

    def describe_parameters(self) -> str:
        hints = self.hints
        parts = []
        for p in self.parameters:
            text = p.name
            if p.name in hints:
                text += f": {_type_name(hints[p.name])}"
            if p.default is not inspect.Parameter.empty:
                text += f" = {p.default!r}"
            parts.append(text)
        return ", ".join(parts)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@dataclass
class WorkflowDefinition(_Callable):
    start_on: tuple[str, ...] = ()  # event types that start an instance of it (engine/triggers.py)
    schedule: Optional[ScheduleSpec] = None  # declared with schedule= or every= (App.sync_schedules)
    queue: Optional[str] = None  # the queue its instances start in, unless a start names another

    def start(self, app: Any, *args: Any, instance_id: Optional[str] = None, **kwargs: Any) -> str:
        """Create an instance and run it until it waits or finishes; returns its id."""
        return app.start(self.name, *args, instance_id=instance_id, **kwargs)


@dataclass
class ActivityDefinition(_Callable):
    retry: RetryPolicy = NO_RETRY
    # The activity that undoes this one: called as compensate(ctx, result, *args, **kwargs).
    compensate: Optional["ActivityDefinition"] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the plain function (for unit tests), but not with a workflow's context: that call
        would run on every replay and record nothing."""
        if args and hasattr(args[0], "_activity"):
            raise WorkflowDefinitionError(
                f"activity {self.name!r} was called like a function inside a workflow, which neither "
                f"records nor retries it: call {self._call_hint()}")
        return self.fn(*args, **kwargs)

    def execute(self, ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """Run durably from a workflow: recorded once, returned from history on replay."""
        run = getattr(ctx, "_activity", None)
        if run is None:
            raise WorkflowDefinitionError(
                f"{self.fn.__name__}.execute() takes the workflow's context first, got {ctx!r}: "
                f"call {self._call_hint()}")
        return run(self, args, kwargs)

    def _call_hint(self) -> str:
        return f"{self.fn.__name__}.execute(ctx, ...)"


class Registry:
    """Definitions by name. Decorators fill the module-level default one (what the CLI loads
    workflow modules into), or the one given as `registry=`; an App runs what its registry holds."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDefinition] = {}
        self.activities: dict[str, ActivityDefinition] = {}
        self.queues: dict[str, QueueSpec] = {}  # declared in code (Queue); romancy.toml adds its own
        # Names that test modules with registries of their own define differently (the pytest
        # plugin): not runnable from this one, which could not tell which was meant.
        self.clashes: dict[str, list[str]] = {}

    def started_by(self, event_type: str) -> list[WorkflowDefinition]:
        """The workflows an event of this type starts (`start_on`), by name."""
        return [d for _, d in sorted(self.workflows.items()) if event_type in d.start_on]

    def workflow(self, name: str) -> WorkflowDefinition:
        try:
            return self.workflows[name]
        except KeyError:
            raise NotFoundError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        if name in self.clashes:
            return (f"workflow {name!r} is defined in several test modules ({', '.join(self.clashes[name])}), "
                    "each in a registry of its own: use the romancy_app fixture, or App(registry=...)")
        message = f"unknown workflow {name!r}"
        close = difflib.get_close_matches(name, list(self.workflows), n=1)
        if close:
            return f"{message}: did you mean {close[0]!r}?"
        known = ", ".join(sorted(self.workflows)) or "none registered"
        return f"{message} (known: {known})"


REGISTRY = Registry()

# Where a definition without `registry=` goes, chosen by the file that defines it: the pytest
# plugin gives each test module a registry of its own. None: the default registry.
_file_registry: Optional[Callable[[str], Optional[Registry]]] = None


def route_definitions(chooser: Optional[Callable[[str], Optional[Registry]]]) -> None:
    """Send the definitions made without `registry=` in a file to `chooser(path)` when it returns
    a registry (the pytest plugin: a test module's own), else to the default registry."""
    global _file_registry
    _file_registry = chooser


def _own_registry(fn: Callable[..., Any]) -> Optional[Registry]:
    return _file_registry(fn.__code__.co_filename) if _file_registry is not None else None


def _mirror(definition: WorkflowDefinition) -> None:
    """A test module's workflow is also in the default registry (an `App()` of that module runs
    it) unless another file defines its name: then neither is, and looking it up says why."""
    name, existing = definition.name, REGISTRY.workflows.get(definition.name)
    if name in REGISTRY.clashes:
        REGISTRY.clashes[name].append(definition.fn.__code__.co_filename)
    elif existing is None or existing.fn.__code__.co_filename == definition.fn.__code__.co_filename:
        REGISTRY.workflows[name] = definition
    else:
        del REGISTRY.workflows[name]
        REGISTRY.clashes[name] = [existing.fn.__code__.co_filename, definition.fn.__code__.co_filename]


def _check_context_parameter(fn: Callable[..., Any], kind: str) -> None:
    if not list(inspect.signature(fn).parameters):
        raise WorkflowDefinitionError(
            f"{kind} {fn.__qualname__} must take a context as its first parameter"
        )


def _check_unique(existing: Optional[WorkflowDefinition], new: WorkflowDefinition) -> None:
    """Two modules defining one workflow name would leave the last imported one running the
    other's instances. The same file imported again (a reload) may redefine its own."""
    if existing is None or existing.fn.__code__.co_filename == new.fn.__code__.co_filename:
        return
    raise WorkflowDefinitionError(
        f"workflow {new.name!r} is defined twice: in module {existing.fn.__module__} "
        f"({existing.fn.__code__.co_filename}) and in module {new.fn.__module__} "
        f"({new.fn.__code__.co_filename}); rename one, e.g. @workflow(\"{new.name}_v2\")")


def workflow(name: Any = None, *, registry: Optional[Registry] = None,
             start_on: Union[str, Sequence[str], None] = None, schedule: Union[str, Sequence[str], None] = None,
             every: Optional[Duration] = None, timezone: Optional[str] = None, queue: Optional[str] = None) -> Any:
    """`@workflow`, `@workflow("name")` or `@workflow(name="name")`; `registry=` defines it there
    instead of in the default registry; `start_on=` an event type (or a list) whose events each
    start an instance, their data bound to its parameters by name. `schedule=` a cron expression
    (or a list) or `every=` an interval, in `timezone` (default UTC), starts an instance per slot:
    the schedule, named as the workflow, is created, updated or deleted as the code declares.
    `queue=` the name of the queue (`Queue`, or `[queues.NAME]` in romancy.toml) its instances
    start in."""
    triggers = _event_types(start_on)
    if queue is not None and not (isinstance(queue, str) and queue):
        raise WorkflowDefinitionError(f"queue= takes a queue's name, not {queue!r}")

    def register(fn: Callable[..., Any], wf_name: Optional[str] = None) -> WorkflowDefinition:
        _check_context_parameter(fn, "workflow")
        definition = WorkflowDefinition(wf_name or fn.__name__, fn, triggers, queue=queue)
        if schedule is not None or every is not None or timezone is not None:
            definition.schedule = _schedule(definition, schedule, every, timezone)
        own = _own_registry(fn) if registry is None else None
        target = registry or own or REGISTRY
        _check_unique(target.workflows.get(definition.name), definition)
        target.workflows[definition.name] = definition
        if own is not None:
            _mirror(definition)
        return definition

    if callable(name):
        return register(name)
    return lambda fn: register(fn, name)


def _schedule(definition: WorkflowDefinition, cron: Union[str, Sequence[str], None], every: Optional[Duration],
              timezone: Optional[str]) -> ScheduleSpec:
    """The checked spec of a scheduled workflow, which must take no argument without a default."""
    from .schedule_spec import make_spec, schedule_id_problem

    where = f"@workflow {definition.name!r}"
    problem = schedule_id_problem(definition.name)
    if problem:
        raise WorkflowDefinitionError(f"{where} has a schedule, which is named as the workflow: {problem}")
    required = [p.name for p in definition.parameters if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise WorkflowDefinitionError(f"{where} has a schedule, so it takes no argument without a default; "
                                      f"give {', '.join(required)} a default value")
    try:
        return make_spec(cron, every, timezone, where)
    except UsageError as exc:
        raise WorkflowDefinitionError(str(exc)) from None


def Queue(name: str, concurrency: Optional[int] = None, rate: Optional[str] = None, *,
          registry: Optional[Registry] = None) -> QueueSpec:
    """Declare a queue: at most `concurrency` of its instances hold a slot at once (from their
    start to their end, waiting and sleeping included) and at most N start in any window of
    `rate` ("N/DURATION": "50/1m"). An instance that finds it full is `queued` and starts when a
    slot frees, oldest first. `registry=` as for `workflow`."""
    spec = queue_spec(name, concurrency, rate, "Queue")
    (REGISTRY if registry is None else registry).queues[spec.name] = spec
    return spec


def queue_spec(name: Any, concurrency: Any, rate: Any, where: str) -> QueueSpec:
    """A queue's limits checked: a name, a whole `concurrency` from 1, a rate "N/DURATION"."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"{where}: a queue needs a non-empty name, not {name!r}")
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                    or concurrency < 1):
        raise UsageError(f"{where}: queue {name!r}: concurrency must be a whole number from 1, not {concurrency!r}")
    return QueueSpec(name, concurrency, _rate(name, rate, where), rate)


def _rate(name: str, rate: Any, where: str) -> Optional[tuple[int, float]]:
    if rate is None:
        return None
    count, _, window = rate.partition("/") if isinstance(rate, str) else ("", "", "")
    if not count.strip().isdigit() or int(count) < 1 or not window.strip():
        raise UsageError(f"{where}: queue {name!r}: rate must be like \"50/1m\" (starts per duration), not {rate!r}")
    seconds = to_seconds(window.strip(), f"rate window of queue {name!r}")
    if seconds <= 0:
        raise UsageError(f"{where}: queue {name!r}: the rate's window must be longer than 0, not {rate!r}")
    return int(count), seconds


def _event_types(start_on: Union[str, Sequence[str], None]) -> tuple[str, ...]:
    types = () if start_on is None else (start_on,) if isinstance(start_on, str) else tuple(start_on)
    if not all(isinstance(t, str) and t for t in types):
        raise WorkflowDefinitionError(f"start_on takes an event type or a list of them, not {start_on!r}")
    return types


def activity(name: Any = None, *, retry: Optional[RetryPolicy] = None,
             compensate: Optional[ActivityDefinition] = None, registry: Optional[Registry] = None) -> Any:
    """`@activity`, `@activity("name")` or `@activity(retry=RetryPolicy(...))`; `registry=` as
    for `workflow`. `compensate=undo` (another activity) undoes it when the workflow fails or is
    cancelled after it completed: `undo(ctx, result, *args, **kwargs)` gets its result and arguments."""
    if compensate is not None and not isinstance(compensate, ActivityDefinition):
        raise WorkflowDefinitionError(f"compensate= takes an @activity, not {compensate!r}")

    def register(fn: Callable[..., Any], act_name: Optional[str] = None) -> ActivityDefinition:
        _check_context_parameter(fn, "activity")
        definition = ActivityDefinition(act_name or fn.__name__, fn, retry or NO_RETRY, compensate)
        own = _own_registry(fn) if registry is None else None
        (registry or own or REGISTRY).activities[definition.name] = definition
        if own is not None:  # as for workflows: what an App() of that module looks up
            REGISTRY.activities.setdefault(definition.name, definition)
        return definition

    if callable(name):
        return register(name)
    return lambda fn: register(fn, name)

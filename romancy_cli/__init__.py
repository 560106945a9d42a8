"""romancy_cli: durable workflows that wait for CloudEvents and timers, on SQLite or PostgreSQL.

Names are imported on first use (PEP 562), so `romancy --version` does not load the engine."""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "App": "app", "SendResult": "app",
    "decode_event_data": "codec",
    "Registry": "definitions", "RetryPolicy": "definitions", "activity": "definitions", "Queue": "definitions",
    "workflow": "definitions",
    "ManualClock": "engine.clock",
    "ActivityContext": "engine.context", "ReceivedEvent": "engine.context",
    "WorkflowContext": "engine.context", "sleep": "engine.context", "wait_event": "engine.context",
    "send_event": "engine.publishing", "compensate": "engine.compensation",
    "continue_as_new": "engine.continuation",
    "start_child": "engine.children", "wait_child": "engine.children", "wait_children": "engine.children",
    "execute_child": "engine.children",
    "ChildWorkflowError": "errors", "ChildWorkflowFailed": "errors", "ChildWorkflowCancelled": "errors",
    "ChildWorkflowTimeout": "errors",
    "ActivityError": "errors", "CompensationError": "errors", "EventDataError": "errors",
    "EventTimeout": "errors", "NonDeterminismError": "errors", "NotFoundError": "errors", "RomancyError": "errors",
    "UsageError": "errors",
}

__all__ = [
    "App", "SendResult", "workflow", "activity", "Queue", "Registry", "RetryPolicy", "wait_event", "sleep", "send_event",
    "compensate", "continue_as_new", "start_child", "wait_child", "wait_children", "execute_child",
    "decode_event_data", "ReceivedEvent", "WorkflowContext", "ActivityContext",
    "ManualClock", "EventTimeout", "EventDataError", "ActivityError", "CompensationError", "NonDeterminismError",
    "NotFoundError", "UsageError", "RomancyError", "ChildWorkflowError", "ChildWorkflowFailed",
    "ChildWorkflowCancelled", "ChildWorkflowTimeout", "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'romancy_cli' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

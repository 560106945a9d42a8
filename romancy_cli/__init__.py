"""romancy_cli: durable workflows that wait for CloudEvents and timers, on SQLite or PostgreSQL."""

from .app import App, SendResult
from .codec import decode_event_data
from .definitions import RetryPolicy, activity, workflow
from .engine.clock import ManualClock
from .engine.context import ActivityContext, ReceivedEvent, WorkflowContext, sleep, wait_event
from .errors import (ActivityError, EventDataError, EventTimeout, NonDeterminismError, NotFoundError,
                     RomancyError, UsageError)

__version__ = "0.1.0"

__all__ = [
    "App", "SendResult", "workflow", "activity", "RetryPolicy", "wait_event", "sleep",
    "decode_event_data", "ReceivedEvent", "WorkflowContext", "ActivityContext", "ManualClock",
    "EventTimeout", "EventDataError", "ActivityError", "NonDeterminismError", "NotFoundError",
    "UsageError", "RomancyError", "__version__",
]

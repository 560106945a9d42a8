"""Error categories; each message says what went wrong, where, and what to do."""

from __future__ import annotations

import os
import sysconfig
import traceback
from typing import Optional

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Python's own library and installed packages: a fault raised in json or requests is reported at
# the user's line that called them.
_LIBRARY_DIRS = tuple({os.path.abspath(sysconfig.get_path(name)) + os.sep
                       for name in ("stdlib", "platstdlib", "purelib", "platlib")})


class RomancyError(Exception):
    """Base of every error romancy_cli raises on purpose."""


class UsageError(RomancyError):
    """Bad input from a user: arguments, JSON, durations, configuration (exit code 2)."""


class NotFoundError(RomancyError):
    """An instance, workflow or file that does not exist (exit code 3)."""


class AmbiguousIdError(UsageError):
    """An instance id prefix that starts more than one instance (exit code 2, HTTP 400)."""

    def __init__(self, prefix: str, candidates: list[str], more: bool) -> None:
        self.candidates = candidates
        shown = ", ".join(candidates) + (", ..." if more else "")
        super().__init__(f"instance id {prefix!r} is ambiguous: it starts {shown}; give more of the id")


class UnavailableError(RomancyError):
    """The database or server cannot be reached or opened (exit code 4)."""


class DatabaseError(UnavailableError):
    """The database file is foreign, newer than this version, or unreadable."""


class WorkflowDefinitionError(UsageError):
    """A workflow or activity is declared wrongly, or called with the wrong arguments."""


class EventDataError(RomancyError):
    """Event data does not match the type a workflow asked for."""


class EventTimeout(RomancyError):
    """A wait_event deadline passed before a matching event arrived."""


class ActivityError(RomancyError):
    """An activity failed after its last attempt; carries the original type and message."""

    def __init__(self, activity: str, error_type: str, message: str, attempts: int,
                 where: Optional[str] = None) -> None:
        self.activity = activity
        self.where = where  # the activity's line that raised, for the workflow's error record
        self.error_type = error_type
        self.error_message = message
        self.attempts = attempts
        plural = "s" if attempts != 1 else ""
        super().__init__(
            f"activity {activity!r} failed after {attempts} attempt{plural}: {error_type}: {message}"
        )


class NonDeterminismError(RomancyError):
    """Replayed code called a different step than history recorded at that position."""


class StorageFault(BaseException):
    """The database could not do what was asked: locked past the busy timeout, disk full, read-only,
    connection lost. A fault of the machinery, never a workflow's outcome: the run stops and its
    instance keeps its last committed state, to be retried. A BaseException, so that a workflow's
    own `except Exception` cannot swallow it by accident (the CLI exits 4, HTTP answers 503/507)."""

    def __init__(self, message: str, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.kind = kind  # "locked" | "disk_full" | "read_only" | "connection" | "unavailable"

    retryable = True


def user_location(exc: BaseException) -> Optional[str]:
    """`path:line` of the innermost traceback frame in the user's code: outside romancy_cli, and
    outside Python's library and installed packages unless the user's code is installed there too.
    None when the traceback has no such frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<") and not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    own = [f for f in frames if not os.path.abspath(f.filename).startswith(_LIBRARY_DIRS)]
    frame = (own or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame is not None else None


class CompensationError(RomancyError):
    """`compensate(ctx)` ran every undo activity but some failed after their last attempt."""

    def __init__(self, failures: list[dict]) -> None:
        self.failures = failures
        super().__init__("compensation failed: " + "; ".join(f["message"] for f in failures))


class ChildWorkflowError(RomancyError):
    """A child workflow the parent waited for did not give it an output (see the subclasses)."""

    def __init__(self, child_id: str, message: str, error: Optional[dict] = None) -> None:
        self.child_id = child_id
        self.error = error or {}  # the child's: "type", "message" and, when known, "where"
        super().__init__(message)


class ChildWorkflowFailed(ChildWorkflowError):
    """The child failed; `error` is its error."""

    def __init__(self, child_id: str, error: dict) -> None:
        super().__init__(child_id, f"child workflow {child_id} failed: {error.get('type')}: {error.get('message')}",
                         error)


class ChildWorkflowCancelled(ChildWorkflowError):
    """The child was cancelled."""

    def __init__(self, child_id: str, error: Optional[dict] = None) -> None:
        reason = (error or {}).get("message")
        super().__init__(child_id, f"child workflow {child_id} was cancelled" + (f": {reason}" if reason else ""),
                         error)


class ChildWorkflowTimeout(ChildWorkflowError):
    """The wait for the child timed out; the child keeps running."""

    def __init__(self, child_id: str) -> None:
        super().__init__(child_id, f"child workflow {child_id} did not end before the timeout; it keeps running")

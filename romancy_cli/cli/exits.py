"""The exit-code table, once: every error the CLI reports maps to one of these."""

from __future__ import annotations

from ..errors import NotFoundError, StorageFault, UnavailableError, UsageError

OK = 0  # success
FAILED = 1  # the workflow failed or was cancelled; an operation failed (RomancyError)
USAGE = 2  # usage or input error: bad option, bad JSON, unknown workflow, bad duration, bad config
NOT_FOUND = 3  # no such instance (or file named by the user)
UNAVAILABLE = 4  # the database or server cannot be reached, opened (foreign, newer version) or written
INTERRUPTED = 130  # Ctrl-C, as shells expect


class UnknownWorkflow(UsageError):
    """An unknown workflow name is the user's input (exit 2); an unknown instance is 'not found' (3)."""


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, UsageError):
        return USAGE
    if isinstance(exc, NotFoundError):
        return NOT_FOUND
    if isinstance(exc, (UnavailableError, StorageFault)):
        return UNAVAILABLE
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return FAILED

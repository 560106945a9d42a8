"""What every HTTP answer shares: the body limit, HttpError and its JSON body, and the one table
from the errors of App to statuses, used by the JSON routes and the web page alike."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Optional

from ..errors import NotFoundError, RomancyError, StorageFault, UnavailableError, UsageError

DEFAULT_MAX_BODY = 1024 * 1024


class HttpError(Exception):
    def __init__(self, status: int, message: str, error_type: str, headers: Optional[list] = None) -> None:
        super().__init__(message)
        self.status, self.error_type, self.headers = status, error_type, headers or []


def error_body(status: int, message: str, error_type: str) -> dict[str, Any]:
    return {"error": message, "error_type": error_type, "retryable": status >= 500}


def reason(status: int) -> str:
    """The status line's phrase (421 Misdirected Request, 507 Insufficient Storage, ...)."""
    return HTTPStatus(status).phrase


def status_of(exc: BaseException) -> tuple[int, str]:
    """(status, error_type) of an error that App raised: the one table. A fault of the database
    is retryable (507 for a full disk, RFC 4918, 503 otherwise); a refused input 400; an unknown
    instance 404; an instance in the wrong state 409; anything else is a fault of ours, 500."""
    if isinstance(exc, StorageFault):
        return (507 if exc.kind == "disk_full" else 503), "StorageFault"
    if isinstance(exc, UnavailableError):
        return 503, "Unavailable"
    if isinstance(exc, NotFoundError):
        return 404, "NotFound"
    if isinstance(exc, UsageError):
        return 400, "InvalidRequest"
    if isinstance(exc, RomancyError):
        return 409, "Conflict"
    return 500, "ServerError"

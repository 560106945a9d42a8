"""What a page handler answers: a Response, or Refused with a status and message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...jsonsafe import dumps


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class Refused(Exception):
    """A request the page answers with an error status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, dumps(value).encode(), "application/json")

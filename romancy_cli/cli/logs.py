"""`--log-format json` of `serve`, `tick --loop` and `run`: one JSON object per line on stderr,
with `ts` (RFC 3339, UTC), `level`, `msg`, and the fields a line is about (`instance_id`,
`workflow`, `event_type`, ...) passed as `extra=` to the logging call."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Annotated, Any

import typer

from ..errors import UsageError
from ..times import iso

FORMATS = ("text", "json")
# Attributes of a LogRecord that a line may carry as fields (given by `extra=`).
FIELDS = ("instance_id", "workflow", "event_type", "event_id", "source", "status", "kind", "step", "fired",
          "resumed", "next_due_at")

LogFormatOption = Annotated[str, typer.Option(
    "--log-format", metavar="FORMAT", help="text, or json: one JSON object per line on stderr (ts, level, msg, "
    "instance_id, workflow, event_type where they apply).")]


def check_format(value: str) -> bool:
    """True for json; UsageError naming the flag for anything but text or json."""
    if value not in FORMATS:
        raise UsageError(f"--log-format must be text or json, got {value!r}")
    return value == "json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": iso(record.created),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class LogLines(io.TextIOBase):
    """A stream whose every line becomes a log line (logger `romancy.user`): what workflow code
    prints, in JSON logs too."""

    def __init__(self) -> None:
        self._pending = ""
        self._log = logging.getLogger("romancy.user")

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._log.info(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._log.info(self._pending)
            self._pending = ""


def use_json(verbose: int) -> None:
    """Every log line of this process as JSON on stderr; debug lines with -v. (CliState.use_json_logs
    calls it, and turns workflow code's prints into log lines too.)"""
    global _JSON
    _JSON = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    for noisy in ("waitress", "peewee"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def json_lines() -> bool:
    """Whether this process writes its log, errors and warnings as JSON lines (use_json)."""
    return _JSON


_JSON = False

__all__ = ["LogFormatOption", "check_format", "use_json", "json_lines", "JsonFormatter", "LogLines"]

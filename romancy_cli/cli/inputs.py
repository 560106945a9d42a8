"""Parsing what users type: JSON values (inline, @file or -), durations, times, workflow arguments.

Every problem becomes a UsageError naming the option and what was wrong (exit code 2).
"""

from __future__ import annotations

import inspect
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from ..errors import UsageError


def read_json(value: str, option: str) -> Any:
    """`value` is JSON, `@path` (a file holding JSON) or `-` (JSON on stdin)."""
    from ..jsonsafe import JsonValueError, loads

    text, origin = _read_source(value, option)
    try:
        return loads(text)
    except JsonValueError as exc:
        raise UsageError(f"{option}{origin}: {exc}") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        where = f" at line {line} column {col}" if line else ""
        reason = getattr(exc, "msg", str(exc))
        raise UsageError(f"invalid JSON in {option}{origin}{where}: {reason}; "
                         f"give JSON such as '{{\"key\": \"value\"}}', @file.json or - for stdin") from None


def read_text(path: str, option: str) -> tuple[str, str]:
    """The text of file `path`, or of stdin for `-`, and how to name it in messages."""
    return _read_source(path if path == "-" else "@" + path, option)


def _read_source(value: str, option: str) -> tuple[str, str]:
    if value == "-":
        return _decode(sys.stdin.buffer.read(), option, " (stdin)"), " (stdin)"
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {option} file {path}: {exc.strerror or exc}") from None
        return _decode(raw, option, f" ({path})"), f" ({path})"
    return value, ""


def _decode(raw: bytes, option: str, origin: str) -> str:
    """The UTF-8 text of `raw`, read strictly: bytes that are not UTF-8 would become surrogates,
    which nothing can store, so they are an input error naming their line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, line_start = raw.count(b"\n", 0, exc.start) + 1, raw.rfind(b"\n", 0, exc.start) + 1
        raise UsageError(f"{option}{origin} line {line}: not valid UTF-8 "
                         f"(byte 0x{raw[exc.start]:02x} at byte {exc.start - line_start + 1} of the line); "
                         "save it as UTF-8") from None


def duration(value: Optional[str], option: str, maximum: Optional[float] = None) -> Optional[float]:
    """Seconds in `value` (None stays None); `maximum` bounds options such as --interval that
    become sleeps, which the OS cannot take beyond a few centuries."""
    if value is None:
        return None
    from ..durations import describe, to_seconds

    seconds = to_seconds(value, option)
    if maximum is not None and seconds > maximum:
        raise UsageError(f"invalid {option} {value!r}: at most {describe(maximum)} ({maximum:g} seconds)")
    return seconds


def later(value: Optional[str], option: str) -> Optional[float]:
    """A duration from now, such as --advance: the time it leads to must be before the year 10000."""
    if value is None:
        return None
    import time

    from ..durations import deadline, to_seconds

    deadline(time.time(), value, option)
    return to_seconds(value, option)


def timestamp(value: str, option: str) -> float:
    """RFC 3339 / ISO 8601 (a time without offset is local time), or epoch seconds; between 1970
    and the end of the year 9999, the times romancy can store and show."""
    from ..durations import MAX_EPOCH

    epoch = _epoch(value)
    if epoch is None or not 0 <= epoch <= MAX_EPOCH:
        raise UsageError(f"invalid time {value!r} for {option}: use RFC 3339 such as "
                         f"2025-01-31T12:00:00Z, or epoch seconds from 0 to {MAX_EPOCH:.0f} (year 9999)")
    return epoch


def _epoch(value: str) -> Optional[float]:
    text = value.strip()
    if not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def workflow_arguments(definition: Any, texts: list[str], given: Any) -> tuple[list[Any], dict[str, Any]]:
    """Positional strings converted by the workflow's type hints, plus `--input` (array or object),
    checked against the signature so a wrong call stores nothing."""
    args, kwargs = _combine(definition, texts, given)
    _check_values(definition, args, kwargs)
    definition.bind(tuple(args), kwargs)  # types, as the engine will check them again
    return args, kwargs


def _combine(definition: Any, texts: list[str], given: Any) -> tuple[list[Any], dict[str, Any]]:
    from ..codec import convert_arguments

    if given is not None and not isinstance(given, (list, dict)):
        raise UsageError("--input must be a JSON array (positional arguments) or object (keyword arguments), "
                         f"got {type(given).__name__}")
    if isinstance(given, list) and texts:
        raise UsageError("give workflow arguments either positionally or as a --input array, not both")
    _check_count(definition, given if isinstance(given, list) else texts, given if isinstance(given, dict) else {})
    annotations = _positional_annotations(definition, len(texts))
    try:
        args = convert_arguments(texts, annotations)
    except Exception as exc:
        raise UsageError(_argument_problem(definition, texts, annotations, exc)) from None
    if isinstance(given, list):
        return list(given), {}
    return args, dict(given or {})


def _check_values(definition: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Values JSON cannot store, such as `inf` converted to a float parameter, are refused here."""
    from ..jsonsafe import JsonValueError, check

    named = [(_parameter_name(definition, index), value) for index, value in enumerate(args)]
    for name, value in named + list(kwargs.items()):
        try:
            check(value, name)
        except JsonValueError as exc:
            raise UsageError(f"invalid argument {exc.path or name} for {definition.name!r}: {exc.reason}") from None


def _check_count(definition: Any, positional: list[Any], kwargs: dict[str, Any]) -> None:
    """Too many or too few arguments is reported before any of them is converted."""
    from ..errors import WorkflowDefinitionError

    try:
        definition.signature.bind(None, *positional, **kwargs)
    except TypeError as exc:
        raise WorkflowDefinitionError(f"wrong arguments for {definition.name!r}: {exc}; "
                                      f"expected ({definition.describe_parameters()})") from None


def _positional_annotations(definition: Any, count: int) -> list[Any]:
    """The type hint for each positional string; extra strings stay strings (bind reports them)."""
    hints = definition.hints
    out: list[Any] = []
    params = [p for p in definition.parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    star = next((p for p in definition.parameters if p.kind == p.VAR_POSITIONAL), None)
    for index in range(count):
        param = params[index] if index < len(params) else star
        out.append(hints.get(param.name, inspect.Parameter.empty) if param is not None else str)
    return out


def _argument_problem(definition: Any, texts: list[str], annotations: list[Any], exc: Exception) -> str:
    """Which argument failed to convert, what it should be, and the workflow's signature."""
    from ..codec import convert_arguments

    for index, (text, annotation) in enumerate(zip(texts, annotations)):
        try:
            convert_arguments([text], [annotation])
        except Exception as inner:
            name = _parameter_name(definition, index)
            return (f"invalid argument {name} for {definition.name!r}: {text!r} is not {_type_name(annotation)}"
                    f" ({_first_line(inner)}); expected ({definition.describe_parameters()})")
    return f"invalid arguments for {definition.name!r}: {_first_line(exc)}"


def _parameter_name(definition: Any, index: int) -> str:
    params = definition.parameters
    return params[index].name if index < len(params) else f"#{index + 1}"


def _type_name(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    return f"a valid {name}"


def _first_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors(include_url=False)[0]
            path = ".".join(str(p) for p in first["loc"])
            return f"{path + ': ' if path else ''}{first['msg']}"
        except Exception:
            pass
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

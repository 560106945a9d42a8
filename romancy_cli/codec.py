"""Values <-> JSON for history, and typed conversion with pydantic (imported only when needed)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import math
import typing
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Optional, TypeVar
from uuid import UUID

from .errors import EventDataError

T = TypeVar("T")

_PLAIN = (str, int, float, bool, type(None))


def to_plain(value: Any) -> Any:
    """A JSON-compatible copy of `value`: dataclasses, enums, tuples and models become plain data.
    NaN and Infinity raise TypeError, like any other value JSON cannot hold: a workflow returning
    one fails with the reason instead of storing text that no strict JSON reader accepts."""
    if isinstance(value, _PLAIN):
        if isinstance(value, float) and not math.isfinite(value):
            raise TypeError(f"{value!r} has no JSON form: return a finite number, None or a string")
        return value
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    return _object_to_plain(value)


def _object_to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return to_plain(dump(mode="json"))
    raise TypeError(
        f"{type(value).__name__} is not JSON-serialisable: return plain data, a dataclass or a TypedDict"
    )


_ENCODER = json.JSONEncoder(default=to_plain, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> str:
    """JSON text of `value`. What reaches the store is nearly always plain already, so json encodes it
    directly and calls to_plain only for what it cannot encode (a walk of every value was ~10 % of
    a delivery); keys json refuses (tuples...) take the full to_plain path. One encoder serves
    every call: json.dumps with options builds a new one each time."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):  # ValueError: NaN/Infinity, which to_plain names as TypeError
        return _ENCODER.encode(to_plain(value))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def needs_conversion(annotation: Any) -> bool:
    """True when JSON data must be converted to reach `annotation` (dataclass, enum, list[X]...)."""
    return annotation not in _AS_IS


_AS_IS = (Any, str, int, float, bool, dict, list, type(None), None, inspect.Parameter.empty)


# Plain JSON values that pydantic would return unchanged for these annotations: checked by type,
# so that the common `order_id: str` does not import pydantic on the start path (cold start).
_EXACT: dict[Any, type] = {str: str, int: int, float: float, bool: bool, dict: dict, list: list}


def is_exact(value: Any, annotation: Any) -> bool:
    """True when `value` already is of the plain type `annotation` names (a bool is no int)."""
    return _EXACT.get(annotation) is type(value)


@lru_cache(maxsize=512)
def _adapter(annotation: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


def refuse_boolean_number(value: Any, annotation: Any) -> None:
    """JSON true/false is no number, though pydantic (like Python) would take it as 1 or 0."""
    if annotation in (int, float) and isinstance(value, bool):
        raise ValueError(f"{json.dumps(value)} is a boolean, not a number")


def convert(value: Any, annotation: Any) -> Any:
    """`value` (plain JSON) as `annotation`; raises pydantic's ValidationError on mismatch."""
    if not needs_conversion(annotation):
        return value
    built = _plain_dataclass(value, annotation)
    return built if built is not None else _adapter(annotation).validate_python(value)


def _plain_dataclass(value: Any, annotation: Any) -> Any:
    """`annotation(**value)` when `annotation` is a dataclass of plain fields and `value` has each
    of them with its exact type (as pydantic would build it), else None."""
    plain = _plain_dataclass_fields(annotation)
    if plain is None or not isinstance(value, dict):
        return None
    fields, required = plain
    if required <= value.keys() <= fields.keys() and all(is_exact(v, fields[k]) for k, v in value.items()):
        return annotation(**value)
    return None


@lru_cache(maxsize=512)
def _plain_dataclass_fields(annotation: Any) -> Optional[tuple[dict[str, Any], frozenset[str]]]:
    """The fields of a dataclass whose fields are all plain JSON types, and those without a
    default, else None: such a value is built directly, as pydantic would build it, without
    importing pydantic (cold start)."""
    if not (isinstance(annotation, type) and dataclasses.is_dataclass(annotation)):
        return None
    try:
        hints = typing.get_type_hints(annotation)
    except Exception:  # a hint that does not resolve: pydantic says what is wrong with it
        return None
    init = [f for f in dataclasses.fields(annotation) if f.init]
    fields = {f.name: hints.get(f.name) for f in init}
    if not all(hint in _EXACT for hint in fields.values()):
        return None
    required = frozenset(f.name for f in init
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    return fields, required


def decode_event_data(data: Any, target: type[T]) -> T:
    """Validate event data into `target`; EventDataError names the field path, expected and got."""
    built = _plain_dataclass(data, target)
    if built is not None:
        return built
    from pydantic import ValidationError

    try:
        return _adapter(target).validate_python(data)
    except ValidationError as exc:
        raise EventDataError(_describe_validation(exc, target)) from None


def _describe_validation(exc: Any, target: Any) -> str:
    name = getattr(target, "__name__", str(target))
    problems = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(data)"
        got = type(err.get("input")).__name__
        problems.append(f"{path}: {err['msg']} (got {got})")
    return f"event data does not match {name}: " + "; ".join(problems)


def convert_arguments(text_args: list[str], annotations: list[Any]) -> list[Any]:
    """Command-line strings converted by type hints; JSON for structured types."""
    return [_convert_text(text, ann) for text, ann in zip(text_args, annotations)]


def _convert_text(text: str, annotation: Any) -> Any:
    if annotation in (str, Any, inspect.Parameter.empty):
        return text
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if annotation is bool and isinstance(text, str) and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    refuse_boolean_number(value, annotation)
    return value if is_exact(value, annotation) else _adapter(annotation).validate_python(value)

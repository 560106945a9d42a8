"""Strict JSON at the edges: what comes in is finite and shallow, what goes out is valid JSON.

Python's json reads and writes NaN and Infinity, which JSON (RFC 8259) has no form for: a value
that reached the store that way would break every strict reader of `status --json` or the HTTP
API. Kept free of heavy imports: every CLI command loads it."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Optional

MAX_DEPTH = 64  # arrays and objects inside one another; deeper data is refused where it enters

_TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels; flatten the data"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class JsonValueError(ValueError):
    """A value JSON cannot carry (NaN/Infinity) or one nested deeper than MAX_DEPTH; `path` is
    where (None when too deep: the path would be as long as the data), `reason` what to do."""

    def __init__(self, path: Optional[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path, self.reason = path, reason


def loads(text: str) -> Any:
    """Parse `text`; plain ValueError for malformed text, JsonValueError for NaN/Infinity (also a
    number too large for a double) or nesting deeper than MAX_DEPTH."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonValueError(None, _TOO_DEEP) from None
    check(value)
    return value


def check(value: Any, root: str = "$") -> None:
    """Raise JsonValueError naming the path of the first bad value. Iterative: the depth of the
    data must not be limited by Python's stack."""
    stack: list[tuple[Any, Optional[tuple], int]] = [(value, None, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise JsonValueError(_path(root, where), "NaN/Infinity is not allowed in JSON; "
                                 "use a finite number, null or a string")
        if isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise JsonValueError(None, _TOO_DEEP)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((child, (where, key), depth + 1) for key, child in reversed(list(pairs)))


def _path(root: str, where: Optional[tuple]) -> str:
    """`$.order.items[2]` from the (parent, key) chain; built only for the error message."""
    keys = []
    while where is not None:
        where, key = where
        keys.append(key)
    return root + "".join(_step(key) for key in reversed(keys))


def _step(key: Any) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    text = str(key)
    return f".{text}" if _IDENTIFIER.fullmatch(text) else f"[{json.dumps(text, ensure_ascii=False)}]"


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON text for output. A NaN/Infinity stored before input was checked is written as
    null, as JavaScript's JSON.stringify writes it: showing old data must never fail."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False, **options)


def finite(value: Any) -> Any:
    """A copy of JSON data with NaN/Infinity replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value

"""Strict JSON at the edges: what comes in is finite, shallow and valid Unicode, what goes out is
valid JSON.

Python's json reads and writes NaN and Infinity, which JSON (RFC 8259) has no form for: a value
that reached the store that way would break every strict reader of `status --json` or the HTTP
API. It also reads an unpaired surrogate escape ("\\ud800") into a str that no UTF-8 can encode,
so the store would fail on it. Kept free of heavy imports: every CLI command loads it."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Optional

MAX_DEPTH = 64  # arrays and objects inside one another; deeper data is refused where it enters

_TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels; flatten the data"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
# What a parsed string can get a surrogate from: one raw in the text, or a \uD800-\uDFFF escape.
_SURROGATE_SOURCE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


class JsonValueError(ValueError):
    """A value JSON cannot carry (NaN/Infinity, text with a lone surrogate) or one nested deeper
    than MAX_DEPTH; `path` is where (None when too deep: the path would be as long as the data),
    `reason` what to do."""

    def __init__(self, path: Optional[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path, self.reason = path, reason


def loads(text: str) -> Any:
    """Parse `text`; plain ValueError for malformed text, JsonValueError for NaN/Infinity (also a
    number too large for a double), a lone surrogate in a string or key, or nesting deeper than
    MAX_DEPTH."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonValueError(None, _TOO_DEEP) from None
    # One search of the text spares looking at every string and key when none can hold a surrogate.
    check(value, text=_SURROGATE_SOURCE.search(text) is not None)
    return value


def check(value: Any, root: str = "$", text: bool = True) -> None:
    """Raise JsonValueError naming the path of the first bad value (strings and keys too when
    `text`). Iterative: the depth of the data must not be limited by Python's stack."""
    stack: list[tuple[Any, Optional[tuple], int]] = [(value, None, 0)]
    while stack:
        item, where, depth = stack.pop()
        if text and isinstance(item, str):
            found = _surrogate_in(item)
            if found is not None:
                raise JsonValueError(_path(root, where), f"{found} is {_NOT_UNICODE}")
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonValueError(_path(root, where), "NaN/Infinity is not allowed in JSON; "
                                 "use a finite number, null or a string")
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise JsonValueError(None, _TOO_DEEP)
            if text and isinstance(item, dict):
                _check_keys(item, root, where)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((child, (where, key), depth + 1) for key, child in reversed(list(pairs)))


_NOT_UNICODE = "a lone surrogate, not valid Unicode: send UTF-8 text (a \\u escape of a surrogate needs its pair)"


def lone_surrogate(text: str) -> Optional[int]:
    """The index of the first surrogate code point in `text`, or None. A str holds one only when
    it came from bytes that were not UTF-8 (Python's surrogateescape) or from an unpaired
    \\ud800-\\udfff escape; UTF-8 cannot encode it, so no store or answer can carry it."""
    if text.isascii():  # the common case, and far cheaper than the search
        return None
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def _surrogate_in(text: str) -> Optional[str]:
    """The first surrogate of `text` as U+XXXX, or None."""
    index = lone_surrogate(text)
    return None if index is None else f"U+{ord(text[index]):04X}"


def _check_keys(item: dict, root: str, where: Optional[tuple]) -> None:
    for key in item:
        found = _surrogate_in(key) if isinstance(key, str) else None
        if found is not None:
            raise JsonValueError(_path(root, where), f"a key holds {found}, {_NOT_UNICODE}")


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

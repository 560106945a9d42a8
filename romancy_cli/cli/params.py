"""Plain value conversion for the CLI's own simple parameters (str, int, float, bool, Path, list[str]),
and the one check of the text typed on the command line: valid UTF-8 (see PlainParam._one).

Typer 0.29 converts every parameter value through a pydantic TypeAdapter that it builds on first
use, which imports pydantic (50-70 ms) even for `romancy status` or `romancy status --help`. The
CLI's parameters are all simple, so they get a plain converter here instead. Any other kind of
parameter, or a Typer without these internals, keeps Typer's own conversion unchanged.

No public hook avoids that import: `parser=` and every other annotation still go through a
TypeAdapter. So this sets Typer's private `_runtime_param` on each parameter, and pyproject.toml
pins the Typer minor series this was tested with; tests/test_cli_startup.py fails, naming the
attribute and the pin, when a Typer in that range stops reading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    return value if isinstance(value, int) else int(str(value).strip())


# Parameters whose text is not checked here: file names (a file may be named by any bytes; @file
# too) and JSON, which jsonsafe checks where it is parsed, naming the field inside it.
UNCHECKED_TEXT = frozenset({"config", "database", "workflows", "batch", "data", "input_json"})

CONVERTERS: dict[Any, tuple[Callable[[Any], Any], str]] = {
    str: (str, "text"), int: (_int, "integer"), float: (float, "number"), bool: (_bool, "boolean"),
    Path: (Path, "path"), List[str]: (str, "text"), list[str]: (str, "text"),
}


class PlainParam:
    """Stands in for Typer's RuntimeParam: `coerce(value, param, ctx)`."""

    def __init__(self, convert: Callable[[Any], Any], label: str, minimum: Optional[float]) -> None:
        self.convert, self.label, self.minimum = convert, label, minimum

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if multi:
            if isinstance(value, str):
                raise _bad("Value must be an iterable.", param, ctx)
            return [self._one(item, param, ctx) for item in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            result = self.convert(value)
        except (TypeError, ValueError):
            raise _bad(f"{value!r} is not a valid {self.label}.", param, ctx) from None
        if self.minimum is not None and result < self.minimum:
            raise _bad(f"{result} is smaller than the minimum {self.minimum}.", param, ctx)
        if isinstance(result, str) and param.name not in UNCHECKED_TEXT:
            _check_utf8(result, param, ctx)
        return result


def _check_utf8(text: str, param: Any, ctx: Any) -> None:
    """Python reads each byte of an argument that is not UTF-8 as a surrogate (U+DC80-U+DCFF),
    which no store or output can encode: refused here, naming the byte, before anything runs."""
    from ..jsonsafe import lone_surrogate

    index = lone_surrogate(text)
    if index is not None:
        raise _bad(f"not valid UTF-8 (byte 0x{ord(text[index]) & 0xFF:02x} at character {index + 1}); "
                   "give text in UTF-8.", param, ctx)


def _bad(message: str, param: Any, ctx: Any) -> Exception:
    from typer import BadParameter

    return BadParameter(message, ctx=ctx, param=param)


def install(command: Any) -> None:
    """Give every simple parameter of `command` and its subcommands (and their --help options,
    which click creates per command on first use) a PlainParam."""
    try:
        _create_help_options(command)
    except Exception:  # pragma: no cover - a click without these hooks: help keeps Typer's path
        pass
    for param in _params(command):
        plain = _plain_for(param)
        if plain is not None:
            param._runtime_param = plain


def _create_help_options(command: Any, parent: Any = None, name: str = "romancy") -> None:
    settings = getattr(command, "context_settings", None) or {}
    ctx = command.context_class(command, parent=parent, info_name=name, **(settings if parent is None else {}))
    option = command.get_help_option(ctx)  # click caches it on the command for later contexts
    plain = _plain_for(option) if option is not None else None
    if plain is not None:
        option._runtime_param = plain
    for sub_name, sub in getattr(command, "commands", {}).items():
        _create_help_options(sub, ctx, sub_name)


def _plain_for(param: Any) -> Optional[PlainParam]:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return None  # not a Typer parameter as this module knows it, or already set up
    info = descriptor.parameter_info
    if getattr(info, "parser", None) is not None or getattr(info, "max", None) is not None:
        return None
    try:
        convert, label = CONVERTERS[descriptor.annotation]
    except (KeyError, TypeError):
        return None
    return PlainParam(convert, label, getattr(info, "min", None))


def _params(command: Any) -> Iterator[Any]:
    yield from getattr(command, "params", ())
    for sub in getattr(command, "commands", {}).values():
        yield from _params(sub)

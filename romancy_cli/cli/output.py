"""Where output goes: data (ids, JSON) on stdout; human progress, tables and errors on stderr.

rich is imported only when something human is printed, so data-only paths stay light.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

_console: Any = None


def console() -> Any:
    """The rich console on stderr. Colour follows rich: off when not a terminal or NO_COLOR."""
    global _console
    if _console is None:
        from rich.console import Console

        terminal = sys.stderr.isatty()
        # soft_wrap: a long line stays one line (greppable); tables still fit the width.
        _console = Console(stderr=True, soft_wrap=True, highlight=False,
                           width=None if terminal else 160,
                           no_color=bool(os.environ.get("NO_COLOR")) or None)
    return _console


def version_line() -> str:
    from .. import __version__

    return f"romancy {__version__}"


def reset() -> None:
    global _console
    _console = None


def say(*renderables: Any) -> None:
    """Human output on stderr (rich markup allowed: escape user data with `esc`)."""
    console().print(*renderables)


def esc(value: Any) -> str:
    from rich.markup import escape

    return escape(str(value))


def data(text: str) -> None:
    """One line of data on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def dumps(value: Any, pretty: Optional[bool] = None) -> str:
    """Indented on a terminal, one line in a pipe (one JSON document per line for --watch)."""
    if pretty is None:
        pretty = sys.stdout.isatty()
    from ..jsonsafe import dumps as strict_dumps

    return strict_dumps(value, ensure_ascii=False, indent=2 if pretty else None,
                        separators=None if pretty else (",", ":"))


def print_json(value: Any, pretty: Optional[bool] = None) -> None:
    data(dumps(value, pretty))


def error(message: str) -> None:
    """The one-line error. Written plainly (not through rich) so it is never wrapped."""
    line = " ".join(str(message).split("\n")).strip()
    prefix = "error:"
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        prefix = "\x1b[1;31merror:\x1b[0m"
    sys.stderr.write(f"{prefix} {line}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()

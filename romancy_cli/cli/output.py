"""Where output goes: a command's answer (ids, JSON, tables, one instance) on stdout; progress,
notices and errors on stderr.

rich is imported only when something human is printed, so data-only paths stay light.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence, Union

_console: Any = None
_answer: Any = None

Cell = Union[str, tuple[str, str]]  # text, or (text, rich style) for a terminal


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


def answer_console() -> Any:
    """The rich console on stdout, for a command's human answer; colour only on a terminal."""
    global _answer
    if _answer is None:
        from rich.console import Console

        _answer = Console(highlight=False, no_color=bool(os.environ.get("NO_COLOR")) or None,
                          soft_wrap=not sys.stdout.isatty())
    return _answer


def reset() -> None:
    global _console, _answer
    _console = _answer = None


def show(*renderables: Any) -> None:
    """Human answer on stdout (rich markup allowed: escape user data with `esc`)."""
    answer_console().print(*renderables)


def table(columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """A table on stdout: rich on a terminal; in a pipe plain columns, like `docker ps`, so that
    `grep`, `awk` and `cut` see one row per line with no colour and no trailing blanks."""
    if not sys.stdout.isatty():
        texts = [list(columns)] + [[_text(c) for c in row] for row in rows]
        widths = [max(len(r[i]) for r in texts) for i in range(len(columns))]
        for row in texts:
            data("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        return
    from rich.table import Table
    from rich.text import Text

    from rich.cells import cell_len

    grid = Table(box=None, pad_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        # The first column (an id) is never wrapped nor cut: it is what the user types next.
        whole = max(cell_len(_text(row[0])) for row in [list(columns), *rows]) if index == 0 else None
        grid.add_column(column, no_wrap=index == 0, min_width=whole)
    for row in rows:
        grid.add_row(*[Text(c) if isinstance(c, str) else Text(c[0], style=c[1]) for c in row])
    answer_console().print(grid)


def fits(columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bool:
    """Whether `table` shows these rows without wrapping a cell: always in a pipe."""
    if not sys.stdout.isatty():
        return True
    from rich.cells import cell_len

    widths = [max(cell_len(_text(row[i])) for row in [list(columns), *rows]) for i in range(len(columns))]
    return sum(widths) + 2 * (len(columns) - 1) <= answer_console().width


def _text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell[0]


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


def print_jsonl(values: Sequence[Any]) -> None:
    """One JSON object per line (`--jsonl`), for `jq -c`, `while read` and log shippers."""
    for value in values:
        data(dumps(value, pretty=False))


def error(message: str) -> None:
    """The one-line error. Written plainly (not through rich) so it is never wrapped."""
    line = " ".join(str(message).split("\n")).strip()
    from .logs import json_lines

    if json_lines():  # --log-format json: the error is one more JSON line
        import logging

        logging.getLogger("romancy.cli").error(line)
        return
    prefix = "error:"
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        prefix = "\x1b[1;31merror:\x1b[0m"
    sys.stderr.write(f"{prefix} {line}\n")
    sys.stderr.flush()


def configure_logging(verbose: int) -> None:
    """-v: romancy's own debug lines (claims, commits, wake-ups) on stderr; -vv: peewee's SQL too."""
    if not verbose:
        return
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("romancy").setLevel(logging.DEBUG)
    if verbose > 1:
        logging.getLogger("peewee").setLevel(logging.DEBUG)


def warn(message: str) -> None:
    from .logs import json_lines

    if json_lines():
        import logging

        logging.getLogger("romancy.cli").warning(message)
        return
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()

"""`romancy` entry point: runs the Typer app (application.py) and turns every error into one
`error: ...` line and an exit code (the table is in exits.py).

Start-up cost matters (`romancy status` runs in shell loops): nothing here imports peewee,
pydantic, waitress or watchfiles; `romancy --version` does not even import Typer.
"""

from __future__ import annotations

import sys
from typing import List, Optional, Sequence

from . import output
from .exits import FAILED, INTERRUPTED, OK, USAGE, exit_code
from .state import reset, state


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console-script entry point: exits with the command's exit code."""
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


def run(argv: List[str]) -> int:
    reset()
    output.reset()
    if argv == ["--version"]:
        output.data(output.version_line())
        return OK
    try:
        return _invoke(argv)
    except BaseException as exc:  # the one place every error becomes one line and an exit code
        return _report(exc)
    finally:
        _close()


def _invoke(argv: List[str]) -> int:
    from typer.main import get_command

    from .application import register

    from .params import install

    command = get_command(register(argv))
    install(command)  # plain conversion for simple options: no pydantic import for `status`
    result = command.main(args=normalize_argv(argv), prog_name="romancy", standalone_mode=False)
    return result if isinstance(result, int) else OK


def normalize_argv(argv: List[str]) -> List[str]:
    """`status --wait` takes an optional STATUS, which click cannot express: a bare `--wait`
    (not followed by a status name) becomes `--wait=terminal`."""
    if "status" not in argv:
        return argv
    from ..records import SHOWN_STATUSES as STATUSES

    values = set(STATUSES) | {"terminal"}
    out = list(argv)
    for index, token in enumerate(out):
        if token == "--wait" and (index + 1 >= len(out) or out[index + 1] not in values):
            if index + 1 < len(out) and _positionals(out[out.index("status") + 1:index]):
                _unknown_wait(out[index + 1], values)
            out[index] = "--wait=terminal"
    return out


_STATUS_FLAGS = {"--watch", "--jsonl", "--json", "--help", "--wait"}


def _positionals(tokens: List[str]) -> List[str]:
    """The arguments of `status` that are not options nor their values."""
    found, skip = [], False
    for token in tokens:
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = "=" not in token and token not in _STATUS_FLAGS
        else:
            found.append(token)
    return found


def _unknown_wait(value: str, values: set) -> None:
    """`status ID --wait done`: the word after --wait is a status that does not exist, not a
    second instance id."""
    import difflib

    from ..errors import UsageError

    if value.startswith("-"):
        return
    close = difflib.get_close_matches(value, sorted(values), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(f"invalid --wait {value!r}: {hint}--wait takes one of {', '.join(sorted(values))} "
                     "(or nothing: terminal)")


def _report(exc: BaseException) -> int:
    import typer

    from ..errors import RomancyError, StorageFault

    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else FAILED
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        output.error("interrupted")
        return INTERRUPTED
    if isinstance(exc, typer.TyperException):  # the base of the click exceptions Typer vendors
        return _usage(exc)
    if isinstance(exc, BrokenPipeError):
        return FAILED
    if state().verbose:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, (RomancyError, StorageFault)):
        output.error(str(exc))
        return exit_code(exc)
    hint = "" if state().verbose else " (run with -v for the traceback)"
    output.error(f"internal error: {type(exc).__name__}: {exc}{hint}")
    return FAILED


def _usage(exc: BaseException) -> int:
    message = exc.format_message()  # type: ignore[attr-defined]
    if not message:  # `romancy` alone: the help was printed already
        return USAGE
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    output.error(f"{message}{hint}")
    code = getattr(exc, "exit_code", USAGE)
    return code if code else USAGE


def _close() -> None:
    try:
        state().close()
    except Exception:
        pass


if __name__ == "__main__":  # pragma: no cover
    main()

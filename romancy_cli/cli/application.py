"""The Typer app: global options and command registration.

Commands live one group per module in `commands/`, each with `register(app)`. To add a command,
add a module there and the command's name to COMMANDS.
"""

from typing import Annotated, Iterable, Optional

import typer

from . import output
from .common import ConfigOption, DatabaseOption, JsonOption, VerboseOption, WorkflowsOption, reflow
from .state import state

# command -> the module in commands/ that registers it
COMMANDS = {"init": "init", "start": "start", "run": "start", "send-event": "events", "status": "status",
            "tick": "tick", "cancel": "cancel", "workflows": "workflows", "replay": "replay", "serve": "serve",
            "events": "eventlog", "retry": "retry", "prune": "prune", "outbox": "outbox",
            "schedule": "schedule",
            "queues": "queues"}

app = typer.Typer(
    name="romancy",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        output.data(output.version_line())
        raise typer.Exit()


def _global(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    workflows: WorkflowsOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = 0,
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Durable workflows that wait for CloudEvents and timers, on SQLite or PostgreSQL.

    Settings come from the nearest romancy.toml (see `romancy init`). Answers (ids, JSON,
    tables) go to stdout; progress, notices and errors go to stderr. Exit codes: 0 ok, 1 failed, 2 usage or input error,
    3 not found, 4 database or server unreachable.
    """
    state().merge(config, database, workflows, json_output, verbose)


app.callback(help=reflow(_global.__doc__))(_global)


def register(args: Iterable[str]) -> typer.Typer:
    """The app with the commands named among `args` (all of them when none is): a command run
    by name imports, and has Typer build, only its own module (~6 ms of each `romancy status`).
    Every argument that names a command counts, in case an option's value is such a name."""
    import importlib

    named = {COMMANDS[arg] for arg in args if arg in COMMANDS}
    for module in dict.fromkeys(COMMANDS.values()):  # in this order in --help
        if named and module not in named:
            continue
        importlib.import_module(f"{__package__}.commands.{module}").register(app)
    return app

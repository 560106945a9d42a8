"""Shared option declarations and the `command` decorator every command module uses.

`command(app, "name")` registers a function as a Typer command and adds the global options
(--config, --database/--db, --workflows, --json, -v) to it, so they work after the command
name as well as before it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, Callable, List, Optional

import typer

from . import output
from .state import state

GLOBAL_PANEL = "Global options"

ConfigOption = Annotated[Optional[str], typer.Option(
    "--config", metavar="PATH", help="romancy.toml to use (default: nearest one, or ROMANCY_CONFIG).",
    rich_help_panel=GLOBAL_PANEL, show_default=False)]
DatabaseOption = Annotated[Optional[str], typer.Option(
    "--database", "--db", metavar="URL", help="SQLite path or postgresql:// URL (env ROMANCY_DATABASE).",
    rich_help_panel=GLOBAL_PANEL, show_default=False)]
WorkflowsOption = Annotated[Optional[List[str]], typer.Option(
    "--workflows", metavar="MODULE_OR_PATH", help="Workflow module, file or folder; repeatable "
    "(env ROMANCY_WORKFLOWS).", rich_help_panel=GLOBAL_PANEL, show_default=False)]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="Print data as JSON on stdout.", rich_help_panel=GLOBAL_PANEL, show_default=False)]
VerboseOption = Annotated[int, typer.Option(
    "--verbose", "-v", count=True, help="More detail: tracebacks on errors, romancy's debug lines "
    "(claims, commits, wake-ups); -vv adds SQL.",
    rich_help_panel=GLOBAL_PANEL, show_default=False)]

_COMMON = {
    "config": (ConfigOption, None),
    "database": (DatabaseOption, None),
    "workflows": (WorkflowsOption, None),
    "json_output": (JsonOption, False),
    "verbose": (VerboseOption, 0),
}


def command(app: typer.Typer, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn` as command `name`, with the global options appended to its parameters."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        options.setdefault("help", reflow(fn.__doc__))
        app.command(name, **options)(with_global_options(fn))
        return fn
    return register


def reflow(doc: Optional[str]) -> Optional[str]:
    """Docstring paragraphs as single lines, so help renders the same in any Typer markup mode."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def with_global_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(fn)
    extra = [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
             for key, (annotation, default) in _COMMON.items()]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        state().merge(kwargs.pop("config"), kwargs.pop("database"), kwargs.pop("workflows"),
                      kwargs.pop("json_output"), kwargs.pop("verbose"))
        output.configure_logging(state().verbose)
        return fn(**kwargs)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind == p.POSITIONAL_OR_KEYWORD else p
              for p in signature.parameters.values()]
    wrapper.__signature__ = signature.replace(parameters=params + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**fn.__annotations__, **{k: a for k, (a, _) in _COMMON.items()}}
    return wrapper


def workflow_definition(name: str) -> Any:
    """Load the configured workflow modules and find `name` (unknown: exit 2 with a suggestion)."""
    from ..definitions import REGISTRY
    from ..errors import NotFoundError
    from .exits import UnknownWorkflow

    state().load_workflows()
    try:
        return REGISTRY.workflow(name)
    except NotFoundError as exc:
        hint = "" if "did you mean" in str(exc) else f"; {state().workflows_hint()}"
        raise UnknownWorkflow(f"{exc}{hint}") from None


def complete_workflow(incomplete: str) -> list[str]:
    """Shell completion of workflow names (errors in the user's modules complete nothing)."""
    try:
        from ..definitions import REGISTRY

        state().load_workflows()
        return sorted(n for n in REGISTRY.workflows if n.startswith(incomplete))
    except Exception:
        return []


def complete_instance(incomplete: str) -> list[str]:
    try:
        if state().database_missing():
            return []
        instances = state().app().list_instances(limit=200)
        return [i.instance_id for i in instances if i.instance_id.startswith(incomplete)]
    except Exception:
        return []


def complete_status(incomplete: str) -> list[str]:
    from ..records import SHOWN_STATUSES as STATUSES

    return [s for s in STATUSES if s.startswith(incomplete)]


def get_instance(instance_id: str) -> Any:
    """The instance with this id or unique id prefix, or NotFoundError (exit 3), AmbiguousIdError
    (exit 2); never creates the database to say so."""
    from ..errors import NotFoundError

    cli = state()
    if cli.database_missing():
        raise NotFoundError(f"no instance {instance_id!r}: database {cli.settings.database} does not exist yet")
    return cli.app().find(instance_id)

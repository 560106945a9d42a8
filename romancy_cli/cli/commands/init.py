"""`romancy init [DIR]`: a working project from the templates folder."""

from pathlib import Path
from typing import Annotated

import typer

from ...errors import UsageError
from ..common import command
from ..output import esc, say

TEMPLATE_FILES = ("romancy.toml", "workflows.py")


def templates_dir() -> Path:
    """The wheel ships templates inside the package; an editable checkout has them at the top."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "templates", package.parent / "templates"):
        if all((candidate / name).is_file() for name in TEMPLATE_FILES):
            return candidate
    raise UsageError(f"templates not found next to {package}; reinstall romancy-cli")


def register(app: typer.Typer) -> None:
    @command(app, "init")
    def init(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help="Project folder (created if missing).",
                                                  show_default=False)] = Path("."),
    ) -> None:
        """Write romancy.toml and an example workflows.py; refuses to overwrite anything."""
        source = templates_dir()
        targets = [directory / name for name in TEMPLATE_FILES]
        existing = [str(t) for t in targets if t.exists()]
        if existing:
            raise UsageError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                             "nothing written (remove it or choose another folder)")
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"{directory} is not a folder")
        directory.mkdir(parents=True, exist_ok=True)
        for name, target in zip(TEMPLATE_FILES, targets):
            target.write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
        _next_steps(directory, targets)


def _next_steps(directory: Path, targets: list) -> None:
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    say(f"[green]created[/] {esc(', '.join(str(t) for t in targets))}")
    say("next:")
    say(f"  {esc(where)}romancy run greet World           [dim]# runs to completion in the foreground[/]")
    say(f"  {esc(where)}romancy start order_workflow ORD-1   [dim]# waits for payment.completed[/]")
    say("  romancy send-event payment.completed --data '{\"order_id\": \"ORD-1\", \"amount\": 9.5}'")

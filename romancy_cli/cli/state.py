"""Per-invocation state: global options, the resolved settings, and the App (opened lazily).

Global options are accepted before the command (`romancy --json status`) and after it
(`romancy status --json`); `common.py` merges both into the one `STATE` of this process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

if TYPE_CHECKING:  # imported lazily: App pulls in the engine, and opening it pulls in peewee
    from ..app import App
    from ..config import Settings


@dataclass
class CliState:
    config: Optional[str] = None
    database: Optional[str] = None
    workflows: list[str] = field(default_factory=list)
    json: bool = False
    verbose: int = 0
    json_logs: bool = False  # --log-format json: stderr carries JSON lines only
    _settings: Optional["Settings"] = None
    _app: Optional["App"] = None
    _loaded: bool = False
    # The schedules the loaded modules declare are made those of the database when both are
    # open (App.sync_schedules); a command that promises to write nothing turns it off.
    sync_schedules: bool = True

    def merge(self, config: Optional[str], database: Optional[str], workflows: Optional[list[str]],
              json: bool, verbose: int) -> None:
        """Options given after the command win over the same options given before it."""
        self.config = config or self.config
        self.database = database or self.database
        self.workflows = list(workflows or []) or self.workflows
        self.json = self.json or json
        self.verbose = max(self.verbose, verbose)

    @property
    def settings(self) -> "Settings":
        if self._settings is None:
            from ..config import load_settings

            self._settings = load_settings(self.config, self.database, self.workflows or None)
        return self._settings

    def use_json_logs(self) -> None:
        """--log-format json: log lines, errors and workflow code's prints as JSON on stderr."""
        from .logs import use_json

        self.json_logs = True
        use_json(self.verbose)

    def load_workflows(self) -> None:
        """Import the configured workflow modules (their prints go to stderr, not stdout)."""
        if self._loaded:
            return
        from ..loader import WorkflowModuleMissing, load_workflows

        settings = self.settings
        try:
            with user_output():
                load_workflows(settings.workflows, settings.root)
        except WorkflowModuleMissing as exc:
            raise WorkflowModuleMissing(f"{exc}; {self.workflows_hint()}") from None
        self._loaded = True
        if self._app is not None and self.sync_schedules:
            self._app.sync_schedules()

    def declares_schedules(self) -> bool:
        """Whether the loaded modules declare a schedule: commands then open (or create) the
        database to keep it in step even when they would only have read it."""
        from ..definitions import REGISTRY

        return any(d.schedule is not None for d in REGISTRY.workflows.values())

    def workflows_hint(self) -> str:
        """Where to fix the workflow modules: name romancy.toml only when there is one."""
        from ..config import ENV_WORKFLOWS

        if self.workflows or os.environ.get(ENV_WORKFLOWS):
            return "check --workflows (or ROMANCY_WORKFLOWS)"
        if self.settings.source is not None:
            return f"check `workflows` in {_shown(self.settings.source)}"
        return "no romancy.toml found: pass --workflows MODULE_OR_PATH, or run `romancy init`"

    def app(self) -> "App":
        if self._app is None:
            from ..app import App

            settings = self.settings
            self._say_where_created()
            app = App(database=settings.database, worker_id=settings.worker_id,
                      lease_seconds=settings.lease_seconds, synchronous=settings.synchronous,
                      busy_timeout=settings.busy_timeout, only_database=True, outbox_url=settings.outbox.url,
                      queues=settings.queues, config_source=str(settings.source or "configuration"),
                      hooks=self.hooks(), shared_clock=True)
            self._app = app.initialize()
            if self._loaded and self.sync_schedules:  # the schedules the loaded modules declare
                self._app.sync_schedules()
        return self._app

    def hooks(self) -> list[object]:
        """The hooks of [telemetry], and the tracing hook when traces are asked for."""
        from .telemetry import configured_hooks

        with user_output():  # a hook module's prints go to stderr
            return configured_hooks(self.settings)

    def now(self) -> float:
        """The database's virtual clock once it is open (`tick --advance` moves it), else the
        real time: what `status` measures "in 5m" and "overdue" from, and prune its ages."""
        import time

        return self._app.now() if self._app is not None else time.time()

    def _say_where_created(self) -> None:
        """A database about to be created without any configuration: say where, once."""
        from ..config import ENV_DATABASE

        if self.settings.source is not None or self.database or os.environ.get(ENV_DATABASE):
            return
        if self.database_missing():
            sys.stderr.write(f"using {_shown(self.settings.database)}; no romancy.toml found — "
                             "run `romancy init`\n")

    def database_missing(self) -> bool:
        """True when the SQLite file does not exist yet (its folder does): read-only commands
        then report an empty database instead of creating a file as a side effect."""
        database = self.settings.database
        if "://" in database and not database.startswith("sqlite:///"):
            return False
        path = database[len("sqlite:///"):] if database.startswith("sqlite:///") else database
        return not os.path.exists(path) and os.path.isdir(os.path.dirname(os.path.abspath(path)))

    def close(self) -> None:
        if self._app is not None:
            self._app.shutdown()
            self._app = None


STATE = CliState()


def reset() -> CliState:
    global STATE
    STATE = CliState()
    return STATE


def state() -> CliState:
    return STATE


@contextlib.contextmanager
def user_output() -> Iterator[None]:
    """Workflow code that prints writes to stderr: stdout carries only the command's data. With
    JSON logs, each line it prints is a log line."""
    if not STATE.json_logs:
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    from .logs import LogLines

    lines = LogLines()
    try:
        with contextlib.redirect_stdout(lines):
            yield
    finally:
        lines.flush()


def _shown(path: "os.PathLike[str] | str") -> str:
    """A path as typed relative to here (./romancy.db) when below the current folder."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else os.path.join(".", relative)

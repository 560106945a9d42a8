"""`romancy serve`: CloudEvents over HTTP, the timer loop and workers; reload on save.

No `from __future__ import annotations` here: with the hints postponed as strings, Typer ignored
the options' Annotated help and limits (`serve --help` showed none, `--workers 0` was taken)."""

import os
import sys
from dataclasses import replace
from typing import Annotated, Any, List, Optional

import typer

from ...config import ServeSettings
from ...loader import WorkflowImportError
from ..common import command
from ..logs import LogFormatOption, check_format
from ..state import state


def register(app: typer.Typer) -> None:
    @command(app, "serve")
    def serve(
        host: Annotated[Optional[str], typer.Option("--host", help="Address to bind (default 127.0.0.1).",
                                                    show_default=False)] = None,
        port: Annotated[Optional[int], typer.Option("--port", help="Port (default 8001; 0 picks a free one).", show_default=False)] = None,
        reload: Annotated[Optional[bool], typer.Option(
            "--reload/--no-reload", help="Restart with new code when a workflow module or romancy.toml changes.",
            show_default=False)] = None,
        token: Annotated[Optional[str], typer.Option(
            "--token", help="Require `Authorization: Bearer TOKEN` on every request (env ROMANCY_SERVE_TOKEN keeps it out of the process list).", show_default=False)] = None,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Most server threads: they answer requests, then run the instances events satisfied. One serves while requests are quick; each request busy for over 50 ms gets another.")] = 4,
        connection_limit: Annotated[Optional[int], typer.Option(
            "--connection-limit", min=1, help="Most open client connections; more wait to be accepted (default 1000).",
            show_default=False)] = None,
        channel_timeout: Annotated[Optional[int], typer.Option(
            "--channel-timeout", min=1, help="Seconds before a connection with no request in progress is closed (default 15).",
            show_default=False)] = None,
        dev: Annotated[bool, typer.Option(
            "--dev", help="Let the web page advance time (fire timers and timeouts early), as `tick --advance` does.")] = False,
        allowed_host: Annotated[Optional[List[str]], typer.Option(
            "--allowed-host", metavar="NAME", help="A host name requests may be addressed to besides the bind "
            "address and localhost (repeatable; replaces [serve] allowed_hosts). Others get 421: a guard "
            "against DNS rebinding.", show_default=False)] = None,
        log_format: LogFormatOption = "text",
    ) -> None:
        """Serve CloudEvents on POST /, fire timers on time and run instances, until Ctrl-C."""
        json_logs = check_format(log_format)
        watched = _end_with_watcher()
        cli = state()
        options = _resolve(cli.settings.serve, host=host, port=port, token=token,
                           connection_limit=connection_limit, channel_timeout=channel_timeout,
                           allowed_hosts=_allowed_hosts(allowed_host))
        _configure_logging(cli.verbose, json_logs)
        try:
            cli.load_workflows()
        except WorkflowImportError as exc:
            if not watched:
                raise
            _hold(options, str(exc))
            return
        if options.reload if reload is None else reload:
            _serve_with_reload(options, workers, dev, log_format)
            return
        if watched:
            _log_misfits()
        from ...serve import Server

        server = Server(cli.app(), host=options.host, port=options.port, workers=workers, token=options.token,
                        max_body=options.max_body, connection_limit=options.connection_limit,
                        channel_timeout=options.channel_timeout, retention=cli.settings.retention, dev=dev,
                        outbox=cli.settings.outbox, allowed_hosts=options.allowed_hosts)
        _bind(server)
        server.serve_forever()


def _end_with_watcher() -> bool:
    """A server started by `serve --reload` ends when its watcher does, however that ends.
    True for such a server."""
    from ...serve import ENV_WATCHER, die_with_watcher

    watcher = os.environ.pop(ENV_WATCHER, None)  # not for processes its workflows start
    if watcher and not die_with_watcher(int(watcher)):
        raise typer.Exit(0)
    return watcher is not None


def _log_misfits() -> None:
    """A server the watcher (re)started names the unfinished instances its code no longer
    replays, as `replay --check` would, before its first tick parks them."""
    import logging

    _, misfits = state().app().check_replay()
    if misfits:
        count = len(misfits)
        which = "; ".join(f"{m.instance.instance_id} ({m.message})" for m in misfits)
        logging.getLogger("romancy.serve").warning(
            "%d waiting instance%s no longer %s: %s", count, "" if count == 1 else "s",
            "fits" if count == 1 else "fit", which)


def _hold(options: ServeSettings, error: str) -> None:
    """Code saved broken: keep storing events until the watcher restarts this server with a fix."""
    from ...serve import HoldingServer

    server = HoldingServer(state().app(), error, options)
    _bind(server)
    server.serve_forever()


def _resolve(options: ServeSettings, **flags: Any) -> ServeSettings:
    """The file's [serve] settings with the flags given on the command line (port 0 included:
    any free port, as the log line says)."""
    return replace(options, **{key: value for key, value in flags.items() if value is not None})


def _allowed_hosts(names: Optional[List[str]]) -> Optional[tuple[str, ...]]:
    from ...config import allowed_hosts

    return None if not names else allowed_hosts(names, "--allowed-host")


def _bind(server: Any) -> None:
    from ...errors import UnavailableError

    try:
        server.bind()
    except OSError as exc:
        raise UnavailableError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}; "
                               "choose another --port or stop the other server") from None


def _serve_with_reload(options: ServeSettings, workers: int, dev: bool, log_format: str) -> None:
    from ...config import ENV_DATABASE, ENV_SERVE_TOKEN
    from ...loader import loaded_files
    from ...serve import watch_and_serve

    settings = state().settings
    files = loaded_files()
    if settings.source is not None:
        files.append(str(settings.source))
    child = [sys.executable, "-m", "romancy_cli", "serve", "--no-reload", "--host", options.host,
             "--port", str(options.port), "--workers", str(workers),
             "--connection-limit", str(options.connection_limit), "--channel-timeout", str(options.channel_timeout),
             "--log-format", log_format]
    if settings.source is not None:
        child += ["--config", str(settings.source)]
    for spec in settings.workflows:
        child += ["--workflows", spec]
    if state().verbose:
        child.append("-v")
    if dev:
        child.append("--dev")
    for name in options.allowed_hosts:
        child += ["--allowed-host", name]
    # Any local user can read a process's arguments, only its owner its environment: the
    # database URL may hold a password.
    secrets = {ENV_DATABASE: settings.database}
    if options.token:
        secrets[ENV_SERVE_TOKEN] = options.token
    code = watch_and_serve(child, files, secrets)
    if code:
        raise typer.Exit(code)  # the server has said why, in its one error line


def _configure_logging(verbose: int, json_logs: bool) -> None:
    import logging

    if json_logs:
        state().use_json_logs()
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    if not verbose:
        logging.getLogger("waitress").setLevel(logging.WARNING)
    if verbose < 2:  # -v is romancy's own debug lines; -vv adds every SQL statement
        logging.getLogger("peewee").setLevel(logging.WARNING)

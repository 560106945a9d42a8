"""`romancy serve`: CloudEvents over HTTP, the timer loop and workers; reload on save.

No `from __future__ import annotations` here: with the hints postponed as strings, Typer ignored
the options' Annotated help and limits (`serve --help` showed none, `--workers 0` was taken)."""

import sys
from typing import Annotated, Any, Optional

import typer

from ..common import command
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
            "--token", help="Require `Authorization: Bearer TOKEN` on every request.", show_default=False)] = None,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Most server threads: they answer requests, then run the instances events satisfied. One serves while requests are quick; each request busy for over 50 ms gets another.")] = 4,
    ) -> None:
        """Serve CloudEvents on POST /, fire timers on time and run instances, until Ctrl-C."""
        cli = state()
        settings = cli.settings
        options = settings.serve
        host = host or options.host
        port = options.port if port is None else port  # 0: any free port, as the log line says
        token = token or options.token
        _configure_logging(cli.verbose)
        cli.load_workflows()
        if options.reload if reload is None else reload:
            _serve_with_reload(host, port, token, workers)
            return
        from ...serve import Server

        server = Server(cli.app(), host=host, port=port, workers=workers, token=token, max_body=options.max_body)
        _bind(server)
        server.serve_forever()


def _bind(server: Any) -> None:
    from ...errors import UnavailableError

    try:
        server.bind()
    except OSError as exc:
        raise UnavailableError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}; "
                               "choose another --port or stop the other server") from None


def _serve_with_reload(host: str, port: int, token: Optional[str], workers: int) -> None:
    from ...loader import loaded_files
    from ...serve import watch_and_serve

    settings = state().settings
    files = loaded_files()
    if settings.source is not None:
        files.append(str(settings.source))
    child = [sys.executable, "-m", "romancy_cli", "serve", "--no-reload", "--host", host, "--port", str(port),
             "--workers", str(workers), "--database", settings.database]
    if settings.source is not None:
        child += ["--config", str(settings.source)]
    for spec in settings.workflows:
        child += ["--workflows", spec]
    if token:
        child += ["--token", token]
    if state().verbose:
        child.append("-v")
    watch_and_serve(child, files)


def _configure_logging(verbose: int) -> None:
    import logging

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

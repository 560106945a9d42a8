"""The `romancy` command line: thin Typer commands over App.

main.py (entry point, errors to exit codes) -> application.py (Typer app, global options) ->
commands/*.py (one module per command group, each with `register(app)`).
"""

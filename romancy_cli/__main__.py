"""`python -m romancy_cli` runs the `romancy` command (serve's reloader restarts itself this way)."""

from .cli.main import main

main()

"""One module per command group; each exposes `register(app)` (see cli/main.py COMMAND_MODULES)."""

"""One module per command group; each exposes `register(app)` (see cli/application.py COMMANDS)."""

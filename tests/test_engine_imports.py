"""README "Layout": the engine never imports peewee, typer, rich, waitress or watchfiles."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import romancy_cli.engine

FORBIDDEN = ("peewee", "typer", "rich", "waitress", "watchfiles")


def test_engine_modules_import_no_storage_cli_or_server_libraries():
    modules = sorted(f"romancy_cli.engine.{m.name}" for m in pkgutil.iter_modules(romancy_cli.engine.__path__))
    assert {"romancy_cli.engine.engine", "romancy_cli.engine.replay", "romancy_cli.engine.context",
            "romancy_cli.engine.matching", "romancy_cli.engine.ports", "romancy_cli.engine.clock"} <= set(modules)
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []

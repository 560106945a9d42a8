"""What a `romancy` command on SQLite imports at start-up: not the PostgreSQL driver that peewee
would pull in (~0.1 s of every command), while workflow code can still import it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg  # installed by the test extra: without it these tests would prove nothing

from cli_helpers import Project, make_project


def _imported(stderr: str) -> set[str]:
    """Module names from PYTHONPROFILEIMPORTTIME output."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_a_command_on_sqlite_leaves_the_postgresql_driver_unimported(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert project.run("start", "add", "1").code == 0
    result = project.run("status", PYTHONPROFILEIMPORTTIME="1")
    assert result.code == 0, result.stderr
    modules = _imported(result.stderr)
    assert "peewee" in modules  # the store was opened
    assert not [name for name in modules if name.startswith(("psycopg.", "psycopg_binary", "psycopg2."))]


def test_workflow_code_can_still_import_the_driver(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.root.mkdir()
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["driver_wf.py"]\n')
    project.write("driver_wf.py", '''
from romancy_cli import activity, workflow


@activity
def driver_version(ctx) -> str:
    import psycopg  # imported after the store was opened

    return psycopg.__version__


@workflow
def uses_driver(ctx) -> str:
    return driver_version.execute(ctx)
''')
    result = project.run("run", "uses_driver")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == psycopg.__version__

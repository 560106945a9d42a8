"""What a `romancy` command on SQLite imports at start-up: not the PostgreSQL driver that peewee
would pull in (~0.1 s of every command), while workflow code can still import it; not pydantic,
which Typer would import to convert option values (romancy_cli/cli/params.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg  # installed by the test extra: without it these tests would prove nothing
import pytest
import typer

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


COMMANDS_IMPORTED = """
import json, sys
from romancy_cli.cli.main import run
code = run(sys.argv[1:])
print(json.dumps([code, sorted(m for m in sys.modules if m.startswith("romancy_cli.cli.commands."))]))
"""


def test_a_command_imports_only_its_own_command_module(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    # A database file named "start": that word may be an option's value, so its module is
    # registered too; no other is.
    proc = subprocess.run([sys.executable, "-c", COMMANDS_IMPORTED, "--database", "start", "status"],
                          cwd=project.root, capture_output=True, text=True, timeout=60)
    code, modules = json.loads(proc.stdout.splitlines()[-1])
    assert code == 0, proc.stderr
    assert modules == ["romancy_cli.cli.commands.start", "romancy_cli.cli.commands.status"]


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = make_project(tmp_path).run("--help")
    assert result.code == 0
    for command in ("init", "start", "run", "send-event", "status", "tick", "cancel", "workflows", "serve"):
        assert f" {command} " in result.stdout, command


def test_status_leaves_pydantic_unimported(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert project.run("start", "add", "1").code == 0
    result = project.run("status", "--limit", "5", PYTHONPROFILEIMPORTTIME="1")
    assert result.code == 0, result.stderr
    assert "pydantic" not in _imported(result.stderr)


HEAVY = ("pydantic", "jinja2", "cloudevents", "psycopg", "rich.markdown", "pygments", "waitress")
HEAVY_IMPORTED = """
import json, sys
from romancy_cli.cli.main import run
code = run(sys.argv[1:])
# A driver peewee looked for while it was hidden is None in sys.modules: not imported.
print(json.dumps([code, [m for m in sys.modules if sys.modules[m] is not None and m.split(".")[0] in HEAVY
                         or m in HEAVY]]))
"""
PAYMENT = '{"order_id":"ORD-1","transaction_id":"TXN-1","amount":99.99}'


def test_the_start_status_and_send_event_of_readme_import_no_heavy_module(tmp_path: Path) -> None:
    """README's payment workflow (an activity returning a dataclass, event data decoded into one):
    none of these modules is needed to start it, list it or deliver its event."""
    project = Project(tmp_path / "proj")
    project.root.mkdir()
    examples = Path(__file__).resolve().parent.parent / "examples"
    project.write("payment_workflow.py", (examples / "payment_workflow.py").read_text())
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["payment_workflow.py"]\n')
    script = HEAVY_IMPORTED.replace("HEAVY", repr(HEAVY), 2)
    for command in (("start", "payment_workflow", "ORD-1"), ("status",),
                    ("send-event", "payment.completed", "--data", PAYMENT)):
        proc = subprocess.run([sys.executable, "-c", script, *command], cwd=project.root,
                              capture_output=True, text=True, timeout=60)
        code, heavy = json.loads(proc.stdout.splitlines()[-1])
        assert (code, heavy) == (0, []), (command, proc.stderr)
    assert "completed" in project.run("status").stdout


PIN = "typer>=0.29,<0.30 in pyproject.toml"


def test_typer_still_reads_the_private_attribute_params_py_sets() -> None:
    from typer.main import get_command

    from romancy_cli.cli.application import register
    from romancy_cli.cli.params import install

    command = get_command(register(["status"]))
    status = command.commands["status"]
    limit = next(param for param in status.params if param.name == "limit")
    assert hasattr(limit, "_runtime_param"), (
        f"Typer no longer has the private `_runtime_param` that romancy_cli/cli/params.py sets "
        f"(tested with {PIN}): update params.py before widening the pin")
    install(command)
    ctx = status.context_class(status, info_name="status")
    with pytest.raises(typer.BadParameter, match="'x' is not a valid integer"):
        limit.process_value(ctx, "x")  # PlainParam's wording, not Typer's: Typer used the patch


def test_start_status_and_send_event_leave_the_cron_library_unimported(tmp_path: Path) -> None:
    """cronsim is imported when a schedule is computed, never on the path of these commands."""
    project = make_project(tmp_path)
    assert project.run("schedule", "create", "hourly", "--workflow", "add", "--every", "1h",
                       "--input", '{"a": 1}').code == 0
    for args in (("start", "add", "1"), ("status",), ("send-event", "nothing.here")):
        result = project.run(*args, PYTHONPROFILEIMPORTTIME="1")
        assert result.code == 0, result.stderr
        assert "cronsim" not in _imported(result.stderr), args


@pytest.mark.parametrize("args", [("start", "add", "1"), ("status",),
                                  ("send-event", "payment.completed", "--data", "{}")])
def test_commands_leave_prometheus_and_opentelemetry_unimported(tmp_path: Path, args: tuple) -> None:
    """Only `serve` imports prometheus-client (GET /metrics); OpenTelemetry only when enabled."""
    project = make_project(tmp_path)
    result = project.run(*args, PYTHONPROFILEIMPORTTIME="1")
    assert result.code == 0, result.stderr
    assert not [name for name in _imported(result.stderr) if name.startswith(("prometheus_client", "opentelemetry"))]

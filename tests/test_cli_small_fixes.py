"""Small fixes, each through the real `romancy` executable: the payment example's printed command,
`tick --advance` help, booleans for number parameters, one workflow name in two modules, and
`status --wait` on a timer nothing fires."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import Project, cli_env, make_project, romancy_executable

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "payment_workflow.py"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def _printed_command(output: str) -> str:
    """The `romancy ... send-event` command the example prints, as one shell line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("romancy "))
    end = next(i for i in range(start, len(lines)) if not lines[i].endswith("\\"))
    return " ".join(line.rstrip("\\") for line in lines[start:end + 1])


def test_payment_example_prints_a_command_for_its_own_database_and_a_fresh_id(tmp_path: Path) -> None:
    for run in (1, 2):
        shown = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env=cli_env(), capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        command = _printed_command(shown.stdout).replace("romancy ", f"{romancy_executable()} ", 1)
        sent = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=cli_env(), capture_output=True,
                              text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert "resumed" in sent.stderr and "→ completed" in sent.stderr, (run, sent.stderr)
        assert "duplicate" not in sent.stderr
    assert not (tmp_path / "romancy.db").exists()  # the event went to the example's database


def test_tick_advance_help_says_it_records_future_times(project: Project) -> None:
    result = project.run("tick", "--help")
    help_text = " ".join(result.stdout.split())
    assert "advances add up, and every command reads that clock until --reset-clock" in help_text
    assert "(updated_at, ctx.now())" in help_text


@pytest.mark.parametrize("args, message", [
    (["add", "1", "2", "true"], "error: invalid argument scale for 'add': 'true' is not a valid float "
                                "(true is a boolean, not a number)"),
    (["add", "--input", '{"a": 1, "scale": false}'], "error: wrong arguments for 'add': scale=False is not a "
                                                     "valid float (false is a boolean, not a number)"),
    (["add", "true"], "error: invalid argument a for 'add': 'true' is not a valid int"),
])
def test_numbers_do_not_take_booleans(project: Project, args: list[str], message: str) -> None:
    result = project.run("start", *args)
    assert result.code == 2
    assert result.error_line.startswith(message)
    assert not project.db.exists()


def test_one_workflow_name_in_two_modules_names_both(project: Project) -> None:
    project.write("more/other.py", "from romancy_cli import workflow\n\n\n@workflow(\"add\")\n"
                                   "def other_add(ctx) -> int:\n    return 0\n")
    project.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py", "more/other.py"]\n')
    result = project.run("start", "add", "1")
    assert result.code == 2
    line = result.error_line
    assert "workflow 'add' is defined twice: in module workflows" in line
    assert str(project.root / "workflows.py") in line and str(project.root / "more" / "other.py") in line
    assert not project.db.exists()


def test_status_wait_on_an_overdue_timer_hints_at_tick(project: Project) -> None:
    instance_id = project.run("start", "napper", "0.05").stdout.strip()
    result = project.run("status", instance_id, "--wait", "--timeout", "0.5s")
    assert result.code == 1
    assert result.error_line.endswith("its timer is overdue and nothing is firing it: run `romancy tick` "
                                      "(or keep `romancy serve` or `romancy tick --loop` running)")
    future = project.run("start", "napper").stdout.strip()
    waiting = project.run("status", future, "--wait", "--timeout", "0.3s")
    assert "overdue" not in waiting.error_line

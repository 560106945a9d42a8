"""`romancy init`, the generated project, `--version`/`--help` start-up imports, `workflows`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import Project, TEMPLATES, cli_env, make_project, romancy_executable


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)

HEAVY = ("peewee", "waitress", "watchfiles", "pydantic")


def test_init_writes_a_project_that_runs(tmp_path: Path) -> None:
    proj = Project(tmp_path / "new")
    result = proj.run("init", str(proj.root), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert (proj.root / "romancy.toml").read_text() == (TEMPLATES / "romancy.toml").read_text()
    assert (proj.root / "workflows.py").read_text() == (TEMPLATES / "workflows.py").read_text()
    assert "romancy run greet World" in result.stderr

    started = proj.run("start", "order_workflow", "ORD-1")
    assert started.code == 0, started.stderr
    instance_id = started.stdout.strip()
    assert instance_id.startswith("order_workflow-") and "\n" not in instance_id
    assert "waiting for payment.completed" in started.stderr
    sent = proj.run("send-event", "payment.completed", "--data", '{"order_id": "ORD-1", "amount": 9.5}')
    assert sent.code == 0, sent.stderr
    assert f"resumed 1 instance: {instance_id} → completed" in sent.stderr
    assert proj.status_of(instance_id) == "completed"

    ran = proj.run("run", "greet", "World")  # sleeps 2 s durably, driven in the foreground
    assert ran.code == 0, ran.stderr
    assert ran.json == {"greetings": ["Hello, World!", "Hello, again, World!"]}


def test_init_refuses_to_overwrite(project: Project) -> None:
    before = (project.root / "workflows.py").read_text()
    (project.root / "romancy.toml").unlink()
    result = project.run("init")
    assert result.code == 2
    assert "workflows.py already exists; nothing written" in result.error_line
    assert not (project.root / "romancy.toml").exists()
    assert (project.root / "workflows.py").read_text() == before


def test_version_and_help_import_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--version"], ["--help"], ["status", "--help"]):
        code = ("import sys; from romancy_cli.cli.main import run; sys.argv[0] = 'romancy';"
                f" rc = run({args!r}); bad = [m for m in {HEAVY!r} if m in sys.modules];"
                " print(rc, bad, file=sys.stderr)")
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(),
                              capture_output=True, text=True, timeout=30)
        assert proc.stderr.strip().splitlines()[-1] == "0 []", (args, proc.stderr)
    version = subprocess.run([romancy_executable(), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("romancy ")


def test_workflows_lists_parameters_and_source(project: Project) -> None:
    result = project.run("workflows", "--json")
    assert result.code == 0, result.stderr
    rows = {row["name"]: row for row in result.json}
    assert set(rows) == {"add", "norm", "napper", "order", "boom"}
    add = rows["add"]
    assert add["signature"] == "a: int, b: int = 1, scale: float = 1.0, loud: bool = False"
    assert add["parameters"][0] == {"name": "a", "type": "int", "required": True}
    assert add["parameters"][1] == {"name": "b", "type": "int", "required": False, "default": 1}
    assert add["source"] == str(project.root / "workflows.py")
    assert add["doc"] == "Adds numbers."
    table = project.run("workflows")
    assert table.stderr == ""
    assert "napper" in table.stdout and "seconds: float = 3600.0" in table.stdout


def test_completion_of_commands_and_workflows(project: Project) -> None:
    def complete(words: str, index: int) -> list[str]:
        proc = subprocess.run([romancy_executable()], cwd=project.root, capture_output=True, text=True,
                              env=cli_env(_ROMANCY_COMPLETE="complete_bash", COMP_WORDS=words,
                                          COMP_CWORD=str(index)))
        return proc.stdout.split()

    assert complete("romancy st", 1) == ["start", "status"]
    assert complete("romancy start na", 2) == ["napper"]


def test_the_checkout_reproduces_the_seed(tmp_path: Path) -> None:
    """romancy.toml at the top of the checkout points at examples/: the seed's two commands."""
    checkout = Path(__file__).resolve().parents[1]
    proj = Project(checkout)
    db = str(tmp_path / "seed.db")
    started = proj.run("start", "payment_workflow", "ORD-123", ROMANCY_DATABASE=db)
    assert started.code == 0, started.stderr
    instance_id = started.stdout.strip()
    assert "✓ start_payment_processing" in started.stderr
    assert "⏸ waiting for payment.completed" in started.stderr
    sent = proj.run("send-event", "payment.completed", "--data",
                    '{"order_id":"ORD-123","transaction_id":"TXN-456","amount":99.99}', ROMANCY_DATABASE=db)
    assert sent.code == 0, sent.stderr
    assert f"resumed 1 instance: {instance_id} → completed" in sent.stderr
    shown = proj.run("status", instance_id, "--json", ROMANCY_DATABASE=db).json
    assert shown["output"] == {"status": "completed", "transaction_id": "TXN-456", "amount": 99.99}


def test_without_romancy_toml_says_where_the_database_goes_once(project: Project) -> None:
    (project.root / "romancy.toml").unlink()
    unknown = project.run("start", "zzz")
    assert unknown.code == 2
    assert unknown.error_line.endswith("(known: add, boom, napper, norm, order); no romancy.toml found: "
                                       "pass --workflows MODULE_OR_PATH, or run `romancy init`")
    assert not project.db.exists()
    notice = "using ./romancy.db; no romancy.toml found — run `romancy init`"
    first = project.run("start", "add", "1")
    assert first.code == 0, first.stderr
    assert first.stderr.count(notice) == 1 and project.db.exists()
    assert notice not in project.run("start", "add", "2").stderr
    missing = project.run("--workflows", "gone.py", "start", "add", "1")
    assert missing.error_line == f"error: workflow module {project.root / 'gone.py'} does not exist; " \
                                 "check --workflows (or ROMANCY_WORKFLOWS)"


def test_with_romancy_toml_messages_name_it(project: Project) -> None:
    unknown = project.run("start", "zzz")
    assert unknown.error_line.endswith("; check `workflows` in ./romancy.toml")
    started = project.run("start", "add", "1")
    assert "no romancy.toml" not in started.stderr

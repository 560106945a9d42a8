"""`romancy replay --check` (README "Changing workflow code"): replays recorded histories against
the current code with the real executable, writing nothing and running no activity."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cli_helpers import Project, make_project

# {extra} is replaced by each test's version of the code; `effect` logs every activity run.
WORKFLOWS = '''
from pathlib import Path
from romancy_cli import activity, wait_event, workflow

LOG = Path(__file__).with_name("effects.log")


@activity
def effect(ctx, name: str) -> str:
    with LOG.open("a") as log:
        log.write(name + "\\n")
    return name


@workflow
def shipping(ctx, order_id: str) -> str:
    effect.execute(ctx, "pack")
    {extra}
    wait_event(ctx, "shipped", match={{"order_id": order_id}})
    return "shipped"


@workflow
def billing(ctx, order_id: str) -> str:
    effect.execute(ctx, "charge")
    if ctx.patched("receipt"):
        effect.execute(ctx, "receipt")
    wait_event(ctx, "paid", match={{"order_id": order_id}})
    return "paid"
'''


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    deploy(proj, "")
    return proj


def deploy(project: Project, extra: str) -> None:
    project.write("workflows.py", WORKFLOWS.format(extra=extra))


def start(project: Project, *args: str) -> str:
    result = project.run("start", *args)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def effects(project: Project) -> str:
    return (project.root / "effects.log").read_text()


def test_histories_that_fit_exit_0(project: Project) -> None:
    start(project, "shipping", "S1")
    start(project, "billing", "B1")
    checked = project.run("replay", "--check", "--json")
    assert (checked.code, checked.json) == (0, {"checked": 2, "would_park": []})
    assert "checked 2 instances: all fit" in project.run("replay", "--check").stderr


def test_one_divergent_instance_among_several_workflows(project: Project) -> None:
    shipping = start(project, "shipping", "S1")
    billing = start(project, "billing", "B1")
    deploy(project, 'effect.execute(ctx, "label")')  # a new step under the waiting shipment

    checked = project.run("replay", "--check", "--json")
    assert checked.code == 1, checked.stderr
    assert checked.json["checked"] == 2
    [misfit] = checked.json["would_park"]
    assert misfit == {"instance_id": shipping, "workflow": "shipping", "status": "waiting_for_event", "step": 1,
                      "recorded": {"kind": "event", "name": "shipped"}, "new": {"kind": "activity", "name": "effect"},
                      "message": misfit["message"]}
    assert shipping in project.run("replay", "--check").stderr
    assert project.run("replay", "--check", "--workflow", "billing").code == 0
    assert project.run("replay", "--check", "--instance", billing).code == 0
    assert project.run("replay", "--check", "--instance", shipping).code == 1


def test_ended_instances_only_with_include_ended(project: Project) -> None:
    done = start(project, "shipping", "S1")
    assert project.run("send-event", "shipped", "--data", '{"order_id": "S1"}').code == 0
    assert project.status_of(done) == "completed"
    deploy(project, 'effect.execute(ctx, "label")')

    assert project.run("replay", "--check", "--json").json == {"checked": 0, "would_park": []}
    checked = project.run("replay", "--check", "--include-ended", "--json")
    assert checked.code == 1 and [m["instance_id"] for m in checked.json["would_park"]] == [done]


def test_check_writes_nothing_and_runs_no_activity(project: Project) -> None:
    start(project, "shipping", "S1")
    start(project, "billing", "B1")  # recorded before the patch existed: replays the old branch
    deploy(project, 'effect.execute(ctx, "label")')
    before, log = project.db.read_bytes(), effects(project)

    assert project.run("replay", "--check", "--include-ended").code == 1
    assert project.run("replay", "--check", "--workflow", "billing").code == 0

    assert project.db.read_bytes() == before
    assert effects(project) == log == "pack\ncharge\nreceipt\n"


def test_a_check_is_what_a_resume_finds(project: Project) -> None:
    """The check's verdict is borne out: the instance it names is parked, the other completes."""
    shipping = start(project, "shipping", "S1")
    billing = start(project, "billing", "B1")
    deploy(project, 'effect.execute(ctx, "label")')
    assert project.run("replay", "--check").code == 1

    project.run("send-event", "shipped", "--data", '{"order_id": "S1"}')
    project.run("send-event", "paid", "--data", '{"order_id": "B1"}')
    shown = project.run("status", shipping, "--json").json
    assert (shown["status"], shown["error"]["type"]) == ("parked", "NonDeterminismError")
    assert project.status_of(billing) == "completed"


def test_bad_input_is_one_line_exit_2_and_changes_nothing(project: Project) -> None:
    start(project, "shipping", "S1")
    before = project.db.read_bytes()
    for args in (("replay",), ("replay", "--check", "--workflow", "shiping")):
        result = project.run(*args)
        assert result.code == 2 and result.error_line
    assert "did you mean 'shipping'" in project.run("replay", "--check", "--workflow", "shiping").error_line
    assert project.run("replay", "--check", "--instance", "nope").code == 3
    assert project.db.read_bytes() == before


def test_check_on_postgres(tmp_path: Path, pg_url: str) -> None:
    project = Project(tmp_path)
    project.write("romancy.toml", 'workflows = ["workflows.py"]\n')
    deploy(project, "")
    db = ("--database", pg_url)
    shipping = start(project, "shipping", "S1", *db)
    start(project, "billing", "B1", *db)
    assert project.run("replay", "--check", *db).code == 0
    deploy(project, 'effect.execute(ctx, "label")')
    rows, log = _pg_rows(pg_url), effects(project)

    checked = project.run("replay", "--check", "--json", *db)
    assert checked.code == 1 and [m["instance_id"] for m in checked.json["would_park"]] == [shipping]
    assert _pg_rows(pg_url) == rows and effects(project) == log
    assert not (tmp_path / "romancy.db").exists()


def _pg_rows(url: str) -> list[list[tuple]]:
    with psycopg.connect(url) as conn:
        return [conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("romancy_instances", "romancy_steps", "romancy_events")]

"""Faults at the edges of the CLI: times, numbers and JSON that Python accepts but a workflow
store cannot hold or show. Each is refused where it enters with one `error:` line and exit 2 (4
for a database), leaving the database as it was; whatever is already stored is still shown."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli_helpers import Project, WORKFLOWS, make_project

EXTRA = '''

@workflow
def waiter(ctx, timeout: str) -> str:
    wait_event(ctx, "never.sent", timeout=timeout)
    return "got it"


@workflow
def not_a_number(ctx) -> dict:
    return {"ratio": float("nan")}


@activity
def infinite(ctx) -> float:
    return float("inf")


@workflow
def uses_infinite(ctx) -> float:
    return infinite.execute(ctx)
'''

TABLES = ("romancy_instances", "romancy_steps", "romancy_events", "romancy_meta")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = make_project(tmp_path)
    proj.write("workflows.py", WORKFLOWS + EXTRA)
    return proj


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One instance waiting for an event; the bad inputs must leave the database alone."""
    proj = Project(tmp_path_factory.mktemp("bounds"))
    proj.write("romancy.toml", 'database = "romancy.db"\nworkflows = ["workflows.py"]\n')
    proj.write("workflows.py", WORKFLOWS + EXTRA)
    assert proj.run("start", "order", "ORD-1").code == 0
    return proj


def snapshot(proj: Project) -> dict:
    return {t: sorted(map(repr, proj.rows(f"SELECT * FROM {t}"))) for t in TABLES}


def execute(proj: Project, sql: str, *params: object) -> None:
    conn = sqlite3.connect(proj.db)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


PAST_9999 = "ends after the year 9999; give a shorter duration"
NOT_FINITE = "must be a finite number of seconds"
NOW_HINT = "use RFC 3339 such as 2025-01-31T12:00:00Z, or epoch seconds from 0 to 253402300799 (year 9999)"
JSON_HINT = "NaN/Infinity is not allowed in JSON; use a finite number, null or a string"
DEEP = "JSON nested deeper than 64 levels; flatten the data"

BAD_INPUTS = [
    (["tick", "--advance", "3e11"], f"error: invalid --advance '3e11': {PAST_9999}"),
    (["tick", "--advance", "2.53e11"], f"error: invalid --advance '2.53e11': {PAST_9999}"),
    (["tick", "--advance", "9999999w"], f"error: invalid --advance '9999999w': {PAST_9999}"),
    (["tick", "--advance", "inf"], f"error: invalid --advance 'inf': {NOT_FINITE}"),
    (["tick", "--advance", "nan"], f"error: invalid --advance 'nan': {NOT_FINITE}"),
    (["tick", "--advance", "-5"], "error: invalid --advance '-5': must not be negative"),
    (["tick", "--advance", "１h"], "error: invalid --advance '１h': use a number of seconds or units"),
    (["tick", "--advance", "１"], "error: invalid --advance '１': use a number of seconds or units"),
    (["tick", "--now", "1e400"], f"error: invalid time '1e400' for --now: {NOW_HINT}"),
    (["tick", "--now", "nan"], f"error: invalid time 'nan' for --now: {NOW_HINT}"),
    (["tick", "--now", "10000-01-01T00:00:00Z"], "error: invalid time '10000-01-01T00:00:00Z' for --now"),
    (["tick", "--loop", "--interval", "1e10"],
     "error: invalid --interval '1e10': at most 7d (604800 seconds)"),
    (["tick", "--loop", "--interval", "inf"], f"error: invalid --interval 'inf': {NOT_FINITE}"),
    (["status", "x", "--wait", "--timeout", "1e300"], f"error: invalid --timeout '1e300': {PAST_9999}"),
    (["send-event", "t", "--data", '{"x": NaN}'], f"error: --data: $.x: {JSON_HINT}"),
    (["send-event", "t", "--data", '{"x": [1, Infinity]}'], f"error: --data: $.x[1]: {JSON_HINT}"),
    (["send-event", "t", "--data", '{"a b": {"y": -Infinity}}'], f'error: --data: $["a b"].y: {JSON_HINT}'),
    (["send-event", "t", "--data", '[1e999]'], f"error: --data: $[0]: {JSON_HINT}"),
    (["send-event", "t", "--data", "[" * 100_000], f"error: --data: {DEEP}"),
    (["send-event", "t", "--data", "[" * 65 + "]" * 65], f"error: --data: {DEEP}"),
    (["start", "add", "--input", '{"a": 1, "scale": NaN}'], f"error: --input: $.scale: {JSON_HINT}"),
    (["start", "add", "--input", "[" * 100_000], f"error: --input: {DEEP}"),
    (["start", "napper", "inf"], f"error: invalid argument seconds for 'napper': {JSON_HINT}"),
    (["start", "napper", "NaN"], f"error: invalid argument seconds for 'napper': {JSON_HINT}"),
    (["start", "add", "1", "2", "1e999"], f"error: invalid argument scale for 'add': {JSON_HINT}"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(c[0])[:40] for c in BAD_INPUTS])
def test_bad_time_or_number_is_one_line_exit_2_and_stores_nothing(seeded: Project, args: list[str],
                                                                  message: str) -> None:
    before = snapshot(seeded)
    result = seeded.run(*args, timeout=60)
    assert result.code == 2, result.stderr
    assert result.error_line.startswith(message), result.error_line
    assert result.stdout == ""
    assert snapshot(seeded) == before


def test_nesting_up_to_64_levels_is_accepted(project: Project) -> None:
    deep = "[" * 64 + "]" * 64
    result = project.run("--json", "send-event", "t", "--data", deep)
    assert result.code == 0, result.stderr
    assert json.loads(project.rows("SELECT data FROM romancy_events")[0][0]) == json.loads(deep)


def test_durations_in_workflow_code_are_refused_as_the_workflow_failure(project: Project) -> None:
    """sleep() and wait_event(timeout=...) check their durations too; the bad call fails the
    workflow with the reason, and nothing unshowable is stored."""
    cases = [(("napper", "1e300"), "invalid sleep duration 1e+300: " + PAST_9999),
             (("waiter", "１h"), "invalid timeout '１h': use a number of seconds or units"),
             (("waiter", "9999999w"), "invalid timeout '9999999w': " + PAST_9999)]
    for args, message in cases:
        result = project.run("start", *args)
        assert result.code == 1, result.stderr
        shown = project.run("status", result.stdout.strip(), "--json")
        assert shown.code == 0, shown.stderr
        assert shown.json["status"] == "failed"
        assert shown.json["error"]["type"] == "UsageError"
        assert shown.json["error"]["message"].startswith(message)
    assert project.rows("SELECT COUNT(*) FROM romancy_instances WHERE wake_at IS NOT NULL") == [(0,)]


def test_workflow_results_that_are_not_json_fail_the_workflow(project: Project) -> None:
    """NaN/Infinity returned by a workflow or an activity has no JSON form: the workflow fails
    with a TypeError naming the value instead of storing text no JSON reader accepts."""
    for name in ("not_a_number", "uses_infinite"):
        result = project.run("start", name)
        assert result.code == 1, result.stderr
        shown = project.run("status", result.stdout.strip(), "--json")
        assert shown.code == 0, shown.stderr
        assert shown.json["status"] == "failed" and shown.json["error"]["type"] == "TypeError"
        assert "has no JSON form" in shown.json["error"]["message"]
    stored = [text for row in project.rows("SELECT output FROM romancy_instances UNION ALL "
                                           "SELECT result FROM romancy_steps") for text in row if text]
    for text in stored:
        json.loads(text, parse_constant=pytest.fail)


def test_times_and_numbers_out_of_range_in_the_database_are_still_shown(project: Project) -> None:
    """Rows written by something else (or an older version) hold times datetime cannot show and
    NaN/Infinity. JSON shows such a time as its raw epoch seconds when it is finite and as null
    when not, and a stored NaN/Infinity value as null (as JSON.stringify does): the output stays
    strict JSON. The table and detail views print the raw number marked "(out of range)"."""
    napping = project.run("start", "napper").stdout.strip()
    done = project.run("start", "add", "1").stdout.strip()
    execute(project, "UPDATE romancy_instances SET updated_at = 3e11, wake_at = 1e300 WHERE instance_id = ?",
            napping)
    execute(project, "INSERT INTO romancy_steps (instance_id, seq, kind, name, result) VALUES (?, 5, 'timer', "
            "'sleep', '{\"fired_at\": Infinity}')", napping)
    execute(project, "UPDATE romancy_instances SET updated_at = ?, output = '{\"sum\": NaN}' "
            "WHERE instance_id = ?", float("inf"), done)

    one = project.run("--json", "status", napping)
    assert one.code == 0, one.stderr
    json.loads(one.stdout, parse_constant=pytest.fail)
    assert one.json["updated_at"] == 3e11
    assert one.json["waiting"] == {"timer_due_at": 1e300}
    assert one.json["history"][-1]["result"] == {"fired_at": None}
    listed = project.run("--json", "status")
    assert listed.code == 0, listed.stderr
    json.loads(listed.stdout, parse_constant=pytest.fail)
    by_id = {i["instance_id"]: i for i in listed.json}
    assert by_id[done]["updated_at"] is None and by_id[done]["output"] == {"sum": None}

    table = project.run("status")
    assert table.code == 0, table.stderr
    assert "3e+11 (out of range)" in table.stdout and "1e+300 (out of range)" in table.stdout
    for instance_id in (napping, done):
        detail = project.run("status", instance_id)
        assert detail.code == 0, detail.stderr
        assert "(out of range)" in detail.stdout and "Traceback" not in detail.stderr


def test_a_huge_limit_lists_everything(project: Project) -> None:
    """--limit beyond what a database integer holds means "all of them" rather than an overflow."""
    first = project.run("start", "add", "1").stdout.strip()
    second = project.run("start", "add", "2").stdout.strip()
    for args in (["--json", "status"], ["status"]):
        result = project.run(*args, "--limit", "100000000000000000000")
        assert result.code == 0, result.stderr
        if args[0] == "--json":
            assert {i["instance_id"] for i in result.json} == {first, second}
        else:
            assert first in result.stdout and second in result.stdout


@pytest.mark.parametrize("version", ["abc", "-1", "0", "", "２"])
def test_unreadable_schema_version_is_refused_untouched(project: Project, version: str) -> None:
    assert project.run("start", "add", "1").code == 0
    execute(project, "UPDATE romancy_meta SET value = ? WHERE key = 'schema_version'", version)
    before = snapshot(project)
    for args in (["start", "add", "2"], ["status"]):
        result = project.run(*args)
        assert result.code == 4, result.stderr
        assert result.error_line == (f"error: {project.db} has an unreadable romancy schema version {version!r}; "
                                     "point `database` at a new file or restore this one from a backup")
    assert snapshot(project) == before

"""Bulk work and search from the CLI: `status --search`, and `cancel`/`retry` of many instances by
`--workflow`/`--status` (asked on a terminal, `--yes` in scripts, one transaction per instance, a
summary line, `--json` results). Through the installed `romancy` executable on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import Project, make_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def start(project: Project, *args: str) -> str:
    return project.run("start", *args).stdout.strip()


def statuses(project: Project, workflow: str) -> list[str]:
    return [row[0] for row in project.rows("SELECT status FROM romancy_instances WHERE workflow = ?", workflow)]


def test_status_search_finds_by_id_prefix_or_input_text(project: Project) -> None:
    first = start(project, "order", "ORD-1042", "--id", "order-AAA1")
    second = start(project, "order", "ORD-7", "--id", "order-BBB2")
    by_input = project.run("status", "--search", "1042")
    assert [line.split()[0] for line in by_input.stdout.splitlines()[1:]] == [first]
    by_id = project.run("status", "--search", "order-BB", "--json")
    assert [i["instance_id"] for i in by_id.json] == [second]
    none = project.run("status", "--search", "nothing like it")
    assert none.code == 0 and none.stdout == "" and none.stderr == "no instances\n"
    both = project.run("status", first, "--search", "x")
    assert both.code == 2 and both.error_line == "error: --search lists instances: give it without an INSTANCE_ID"


def test_cancel_many_in_a_script_needs_yes_and_changes_nothing_without(project: Project) -> None:
    for n in range(3):
        start(project, "order", f"ORD-{n}")
    start(project, "napper")
    refused = project.run("cancel", "--workflow", "order")
    assert refused.code == 2
    assert refused.stderr.startswith("  cancel 3 instances (workflow order)\n")
    assert refused.error_line == "error: cancel 3 instances needs confirmation: add --yes (no terminal to ask on)"
    assert statuses(project, "order") == ["waiting_for_event"] * 3
    done = project.run("cancel", "--workflow", "order", "--yes")
    assert done.code == 0 and done.stderr.endswith("  cancelled 3 of 3: 3 cancelled\n")
    assert statuses(project, "order") == ["cancelled"] * 3 and statuses(project, "napper") == ["waiting_for_timer"]
    again = project.run("cancel", "--workflow", "order", "--yes")
    assert again.code == 0 and "cancel 0 instances (workflow order)" in again.stderr


def test_cancel_by_status_reports_each_result_as_json(project: Project) -> None:
    order = start(project, "order", "ORD-1")
    napper = start(project, "napper")
    result = project.run("cancel", "--status", "waiting_for_timer", "--yes", "--json")
    assert result.code == 0
    assert result.json == [{"instance_id": napper, "status": "cancelled", "error": None}]
    assert project.status_of(order) == "waiting_for_event"


def test_cancel_many_asks_on_a_terminal(project: Project) -> None:
    for n in range(2):
        start(project, "order", f"ORD-{n}")
    declined = project.run_in_terminal(120, "cancel", "--workflow", "order", typed="n\n")
    assert "cancel 2 instances (workflow order)" in declined and "cancel 2 instances? [y/N]" in declined
    assert "nothing changed" in declined and statuses(project, "order") == ["waiting_for_event"] * 2
    accepted = project.run_in_terminal(120, "cancel", "--workflow", "order", typed="y\n")
    assert "cancelled 2 of 2: 2 cancelled" in accepted
    assert statuses(project, "order") == ["cancelled"] * 2


def test_retry_many_retries_every_failed_instance_of_a_workflow(project: Project) -> None:
    failed = [project.run("start", "boom", f"bad {n}").stdout.strip() for n in range(2)]
    start(project, "order", "ORD-1")
    result = project.run("retry", "--workflow", "boom", "--yes")
    assert result.code == 1  # they failed again
    assert result.stderr.startswith("  retry 2 instances (workflow boom status failed)\n")
    assert result.stderr.endswith("  retried 2 of 2: 2 failed\n")
    history = [project.rows("SELECT kind FROM romancy_steps WHERE instance_id = ?", iid) for iid in failed]
    assert history == [[("retried",)], [("retried",)]]  # each run again, its failure kept


def test_bulk_bad_input_is_one_line_exit_2(project: Project) -> None:
    iid = start(project, "order", "ORD-1")
    before = project.counts()
    cases = [
        (("cancel",), "error: give an INSTANCE_ID, or --workflow W and/or --status S for many: romancy cancel ID"),
        (("cancel", iid, "--workflow", "order"), "error: give an INSTANCE_ID or --workflow/--status, not both: "
                                                 "romancy cancel ID, or romancy cancel --workflow W --status S"),
        (("cancel", "--status", "completed"), "error: invalid --status 'completed': only running, compensating, "
                                              "waiting_for_event, waiting_for_timer, parked instances can be cancelled"),
        (("retry", "--status", "waiting"), "error: invalid --status 'waiting' (not a status): only failed instances "
                                           "can be retried"),
    ]
    for args, message in cases:
        result = project.run(*args)
        assert (result.code, result.error_line) == (2, message), args
    assert project.counts() == before

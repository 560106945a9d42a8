"""`romancy send-event --batch`: JSON Lines of events, all checked before any is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import Project, make_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def paid(order_id: str, **extra: str) -> str:
    return json.dumps({"type": "payment.completed", "data": {"order_id": order_id, "amount": 3}, **extra})


def test_batch_file_stores_every_event_and_prints_one_summary(project: Project) -> None:
    a = project.run("start", "order", "A").stdout.strip()
    b = project.run("start", "order", "B").stdout.strip()
    project.write("events.jsonl", "\n".join([paid("A", id="e-a", source="shop"), "", paid("B", instance=b),
                                             paid("A", id="e-a", source="shop")]) + "\n")
    sent = project.run("send-event", "--batch", "events.jsonl")
    assert sent.code == 0, sent.stderr
    assert sent.stdout == ""
    assert "stored 2 of 3 events (1 duplicate); resumed 2 instances: 2 completed" in sent.stderr
    assert project.status_of(a) == project.status_of(b) == "completed"
    assert project.rows("SELECT source FROM romancy_events WHERE event_id = 'e-a'") == [("shop",)]


def test_batch_from_stdin_with_json_prints_one_result_per_line(project: Project) -> None:
    instance_id = project.run("start", "order", "C").stdout.strip()
    lines = [paid("C", id="e-1"), json.dumps({"type": "nobody.cares"}), paid("C", id="e-1")]
    sent = project.run("send-event", "--batch", "-", "--json", input="\n".join(lines))
    assert sent.code == 0, sent.stderr
    results = [json.loads(line) for line in sent.stdout.splitlines()]
    assert results[0] == {"event_id": "e-1", "duplicate": False, "delivered": [instance_id],
                          "started": [], "resumed": [{"instance_id": instance_id, "status": "completed"}], "near_misses": []}
    assert results[1]["delivered"] == [] and results[2]["duplicate"] is True


@pytest.mark.parametrize("bad, message", [
    ('{"type": "x", "data": {', "error: --batch line 2: invalid JSON at column"),
    ('{"tpye": "x"}', "error: --batch line 2: unknown key 'tpye'; use type, data, source, id, subject, instance"),
    ('{"type": ""}', 'error: --batch line 2: "type" must be a non-empty string'),
    ('["x"]', 'error: --batch line 2: expected a JSON object with a "type", got an array'),
    ('{"type": "x", "id": 7}', 'error: --batch line 2: "id" must be a non-empty string'),
])
def test_a_bad_line_exits_2_naming_it_and_stores_nothing(project: Project, bad: str, message: str) -> None:
    project.run("start", "order", "D")
    before = project.counts()
    result = project.run("send-event", "--batch", "-", input=paid("D") + "\n" + bad + "\n" + paid("D"))
    assert result.code == 2
    assert result.error_line.startswith(message)
    assert project.counts() == before
    assert project.rows("SELECT status FROM romancy_instances") == [("waiting_for_event",)]


def test_a_line_targeting_a_missing_instance_exits_3_and_stores_nothing(project: Project) -> None:
    project.run("start", "order", "E")
    before = project.counts()
    result = project.run("send-event", "--batch", "-", input=paid("E") + "\n" + paid("E", instance="gone"))
    assert result.code == 3
    assert result.error_line.startswith("error: --batch line 2: no instance 'gone'")
    assert project.counts() == before


def test_batch_refuses_per_event_options_and_a_type(project: Project) -> None:
    for args in (["payment.completed", "--batch", "-"], ["--batch", "-", "--id", "x"]):
        result = project.run("send-event", *args, input=paid("F"))
        assert result.code == 2 and result.error_line.startswith("error: --batch takes")
    assert not project.db.exists()


def test_an_empty_event_type_is_refused(project: Project) -> None:
    result = project.run("send-event", "", "--data", "{}")
    assert result.code == 2
    assert result.error_line.startswith("error: event TYPE must not be empty")
    assert not project.db.exists()


def test_a_line_whose_data_cannot_start_its_workflow_exits_2_and_stores_nothing(project: Project) -> None:
    project.write("workflows.py", (project.root / "workflows.py").read_text() + '''

@workflow(start_on="order.placed")
def ship(ctx, amount: int) -> int:
    return amount
''')
    project.run("start", "order", "E")
    before = project.counts()
    lines = [json.dumps({"type": "nobody.cares"}), json.dumps({"type": "order.placed", "data": {"amount": "lots"}})]
    result = project.run("send-event", "--batch", "-", input="\n".join(lines))
    assert result.code == 2
    assert result.error_line.startswith("error: --batch line 2: event order.placed")
    assert "amount='lots' is not a valid int" in result.error_line
    assert result.error_line.endswith("nothing of the batch was stored")
    assert project.counts() == before

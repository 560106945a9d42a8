"""`romancy send-event --batch`: JSON Lines of events, all checked before any is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import WORKFLOWS, Project, make_project


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


STARTED = WORKFLOWS + '''

@workflow(start_on="order.placed")
def fulfil(ctx, order_id: str, amount: float) -> dict:
    return {"order_id": order_id, "amount": amount}
'''


def placed(order_id: str, **data: object) -> str:
    return json.dumps({"type": "order.placed", "data": {"order_id": order_id, "amount": 2, **data}})


def test_a_last_line_that_cannot_start_its_workflow_stores_nothing_of_10000(project: Project) -> None:
    project.write("workflows.py", STARTED)
    project.run("start", "order", "G")
    before = project.counts()
    lines = [placed(f"O-{n}") for n in range(9_999)] + [json.dumps({"type": "order.placed", "data": {"order_id": "X"}})]
    result = project.run("send-event", "--batch", "-", input="\n".join(lines), timeout=120)
    assert result.code == 2
    line = result.error_line
    assert line.startswith("error: --batch line 10000: event order.placed ") and "cannot start workflow 'fulfil'" in line
    assert line.endswith("its data has no field 'amount'; nothing of the batch was stored")
    assert project.counts() == before


@pytest.mark.parametrize("bad, message", [
    (json.dumps({"type": "x", "data": {"note": "\ud800"}}),
     "error: --batch line 2: $.data.note: U+D800 is a lone surrogate, not valid Unicode"),
    (json.dumps({"type": "x", "data": {"\udc00": 1}}),
     "error: --batch line 2: $.data: a key holds U+DC00, a lone surrogate, not valid Unicode"),
    (json.dumps({"type": "x", "source": "\udfff"}), "error: --batch line 2: $.source: U+DFFF is a lone surrogate"),
])
def test_a_line_with_a_lone_surrogate_exits_2_and_stores_nothing(project: Project, bad: str, message: str) -> None:
    project.run("start", "order", "H")
    before = project.counts()
    result = project.run("send-event", "--batch", "-", input=paid("H") + "\n" + bad + "\n" + paid("H"))
    assert result.code == 2
    assert result.error_line.startswith(message), result.error_line
    assert result.error_line.endswith("; nothing of the batch was stored")
    assert project.counts() == before


def test_bytes_that_are_not_utf8_exit_2_naming_the_line_and_store_nothing(project: Project) -> None:
    project.run("start", "order", "I")
    before = project.counts()
    lines = [paid("I").encode()] * 5 + [b'{"type": "x", "data": "caf\xe9"}', paid("I").encode()]
    sent = project.run("send-event", "--batch", "-", input=b"\n".join(lines))
    assert sent.code == 2
    assert sent.error_line.startswith("error: --batch (stdin) line 6: not valid UTF-8 (byte 0xe9 at byte 27 "
                                      "of the line)"), sent.error_line
    (project.root / "events.jsonl").write_bytes(b"\n".join(lines))
    from_file = project.run("send-event", "--batch", "events.jsonl")
    assert from_file.code == 2 and from_file.error_line.startswith("error: --batch (events.jsonl) line 6: not valid")
    assert project.counts() == before


def test_line_and_paragraph_separators_inside_strings_are_data(project: Project) -> None:
    """U+2028, U+0085 (and form feed escapes) are valid inside a JSON string: only \\n ends a line."""
    note = "a\u2028b\x85c\x1cd"
    lines = [json.dumps({"type": "t.note", "id": "n-1", "data": {"note": note}}, ensure_ascii=False),
             json.dumps({"type": "t.note", "id": "n-2", "data": note}, ensure_ascii=False)]
    for given in ("\r\n".join(lines).encode(), "\n".join(lines)):
        result = project.run("send-event", "--batch", "-", "--json", input=given)
        assert result.code == 0, result.stderr
    stored = project.rows("SELECT event_id, data FROM romancy_events ORDER BY event_id")
    assert [(event_id, json.loads(data)) for event_id, data in stored] == [("n-1", {"note": note}), ("n-2", note)]

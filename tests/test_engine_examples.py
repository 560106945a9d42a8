"""Every program in examples/ runs as `python examples/NAME.py`, imports cleanly beside the others,
and its workflow can be driven to completion through App."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from romancy_cli import App
from romancy_cli.definitions import WorkflowDefinition
from romancy_cli.testing import advance

from example_modules import EXAMPLES, NAMES, examples_registry, load_example

ENDS_FAILED = {"trip_booking"}  # shows compensation: the car fails, the hotel and flight are undone
ENDS_MIXED = {"order_with_payment"}  # one payment child is declined (failed), its order completes
SEED_PORTS = {"payment_workflow", "payment_workflow_typed", "order_with_timeout", "loan_approval",
              "order_fulfillment"}


def test_all_seed_programs_are_ported():
    assert SEED_PORTS <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_as_a_script(name: str, tmp_path: Path):
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert len(result.stdout.splitlines()) < 40  # modest output
    databases = list(tmp_path.glob("*.db"))
    assert len(databases) == 1  # a local database file in the working folder
    with App(database=str(databases[0])) as app:
        statuses = {i.status for i in app.list_instances()}
    # Each example ends with its instances completed, except the seed's first program, which
    # starts the payment and tells the user how to send the event, and the compensation example.
    expected = {"waiting_for_event"} if name == "payment_workflow" else \
        {"failed"} if name in ENDS_FAILED else {"completed", "failed"} if name in ENDS_MIXED else {"completed"}
    assert statuses == expected


def test_examples_import_side_by_side_without_running_and_with_unique_names():
    code = (
        "import importlib.util, json, sys\n"
        "from romancy_cli.definitions import REGISTRY\n"
        "names = {}\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        f"for stem in {NAMES!r}:\n"
        f"    spec = importlib.util.spec_from_file_location('ex_' + stem, {str(EXAMPLES)!r} + '/' + stem + '.py')\n"
        "    module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module\n"
        "    before = set(REGISTRY.workflows)\n"
        "    spec.loader.exec_module(module)\n"
        "    names[stem] = sorted(set(REGISTRY.workflows) - before)  # the workflows it registers\n"
        "print(json.dumps(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout)  # nothing else was printed: no main() ran on import
    every = [n for per_module in names.values() for n in per_module]
    assert all(names.values()), names
    assert len(every) == len(set(every)), names


def test_example_main_accepts_a_database_path(tmp_path: Path, capsys):
    for name in NAMES:
        module = load_example(name)
        module.main(database=str(tmp_path / f"{name}.db"))
    assert "Traceback" not in capsys.readouterr().out


# -- each example driven to completion through App --------------------------------------------


@pytest.fixture
def examples_app(sqlite_path, manual_clock):
    """An App on a real SQLite file that knows exactly the examples' workflows."""
    with App(database=sqlite_path, worker_id="examples", clock=manual_clock, registry=examples_registry()) as app:
        yield app


def test_trip_booking_undoes_the_hotel_then_the_flight(examples_app, capsys):
    module = load_example("trip_booking")
    instance_id = module.trip_booking.start(examples_app, "TRIP-1")
    instance = examples_app.get(instance_id)
    assert instance.status == "failed" and "no car left for TRIP-1" in instance.error["message"]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in printed] == ["booking", "booking", "cancelling", "cancelling"]
    assert [(s.kind, s.name) for s in examples_app.history(instance_id)][3:] == [
        ("ended", "failed"), ("activity", "cancel_hotel"), ("activity", "cancel_flight")]


def test_payment_workflow_completes_on_its_event(examples_app, capsys):
    module = load_example("payment_workflow")
    instance_id = module.payment_workflow.start(examples_app, "ORD-123")
    assert examples_app.get(instance_id).status == "waiting_for_event"
    sent = examples_app.send_event("payment.completed", {"order_id": "ORD-123", "transaction_id": "TXN-456",
                                                       "amount": 99.99}, source="payment-service",
                                 event_id="event-123")
    assert sent.resumed == {instance_id: "completed"}
    assert examples_app.get(instance_id).output == {"status": "completed", "transaction_id": "TXN-456",
                                                  "amount": 99.99}


def test_payment_workflow_times_out_after_five_minutes(examples_app, capsys):
    module = load_example("payment_workflow")
    instance_id = module.payment_workflow.start(examples_app, "ORD-124")
    advance(examples_app, "5m")
    instance = examples_app.get(instance_id)
    assert (instance.status, instance.error["type"]) == ("failed", "EventTimeout")


def test_payment_workflow_typed_decodes_and_rejects(examples_app, capsys):
    module = load_example("payment_workflow_typed")
    good = module.payment_workflow_typed.start(examples_app, "ORD-1")
    bad = module.payment_workflow_typed.start(examples_app, "ORD-2")
    examples_app.send_event("payment.completed", {"order_id": "ORD-1", "transaction_id": "T1", "amount": 5,
                                                "status": "success"})
    examples_app.send_event("payment.completed", {"order_id": "ORD-2", "transaction_id": "T2",
                                                "amount": "five", "status": "success"})
    assert examples_app.get(good).output == {"status": "completed", "amount": 5.0}
    failed = examples_app.get(bad)
    assert failed.status == "failed" and failed.error["type"] == "EventDataError"
    assert "amount" in failed.error["message"]
    assert "Payment of $5.00 completed for order ORD-1" in capsys.readouterr().out


def test_order_with_timeout_cancels_after_sixty_seconds(examples_app, capsys):
    module = load_example("order_with_timeout")
    instance_id = module.order_with_timeout.start(examples_app, "ORD-9")
    assert examples_app.get(instance_id).wait.kind == "timer"
    assert advance(examples_app, "59s") == {}
    assert advance(examples_app, "1s") == {instance_id: "completed"}
    assert examples_app.get(instance_id).output == {"status": "cancelled", "reason": "payment_timeout"}
    names = [s.name for s in examples_app.history(instance_id)]
    assert names == ["create_order", "sleep", "check_payment_status", "cancel_order"]
    assert capsys.readouterr().out.count("Creating order ORD-9") == 1


def test_loan_approval_approved_and_timed_out(examples_app, capsys):
    module = load_example("loan_approval")
    approved = module.loan_approval_workflow.start(examples_app, "L1")
    forgotten = module.loan_approval_workflow.start(examples_app, "L2")
    sent = examples_app.send_event("loan.approved", {"application_id": "L1"})
    assert sent.resumed == {approved: "completed"}
    assert advance(examples_app, "47h") == {}
    assert advance(examples_app, "1h") == {forgotten: "completed"}
    assert examples_app.get(approved).output == {"status": "approved"}
    assert examples_app.get(forgotten).output == {"status": "timed_out"}


def test_order_fulfillment_follows_three_events_per_order(examples_app):
    module = load_example("order_fulfillment")
    first = module.order_fulfillment.start(examples_app, "A")
    second = module.order_fulfillment.start(examples_app, "B")
    for event_type in ("order.packed", "order.picked_up", "order.delivered"):
        assert examples_app.get(first).wait.event_type == event_type
        examples_app.send_event(event_type, {"order_id": "A"})
    assert examples_app.get(first).output == {"status": "delivered"}
    assert examples_app.get(second).wait.event_type == "order.packed"  # B's events are its own


def test_example_workflows_are_workflow_definitions():
    for name in NAMES:
        module = load_example(name)
        assert [v for v in vars(module).values() if isinstance(v, WorkflowDefinition)], name
        assert callable(module.main)


def test_order_with_payment_runs_its_payment_as_a_child(examples_app, capsys):
    module = load_example("order_with_payment")
    paid = module.order_with_payment.start(examples_app, "ORD-7", 25.0)
    declined = module.order_with_payment.start(examples_app, "ORD-8", 250.0)
    assert examples_app.get(paid).output == {"order_id": "ORD-7", "status": "paid", "transaction_id": "TXN-ORD-7"}
    assert examples_app.get(declined).output == {"order_id": "ORD-8", "status": "declined",
                                                 "reason": "activity 'capture_payment' failed after 1 attempt: "
                                                           "ValueError: card declined for 250.00"}
    assert [(c.instance_id, c.status) for c in examples_app.children(declined)] == [(f"{declined}:1", "failed")]
    assert [(c.workflow, c.status, c.queue) for c in examples_app.children(paid)] == [
        ("payment_child", "completed", None), ("order_notification", "completed", "notifications")]
    out = capsys.readouterr().out
    assert "Releasing RES-ORD-8" in out and "Mailing the confirmation of ORD-7" in out

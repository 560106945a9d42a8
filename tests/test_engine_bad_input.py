"""At the API, every bad input is a clear error that leaves the database as it was."""

from __future__ import annotations

import sys
import typing
from dataclasses import dataclass

import pytest

from romancy_cli import App, NotFoundError, Registry, RetryPolicy, UsageError, wait_event, workflow
from romancy_cli.durations import to_seconds
from romancy_cli.errors import RomancyError, WorkflowDefinitionError

registry = Registry()  # this module's workflows, so their names need only be unique here


@dataclass
class Parcel:
    weight: float
    fragile: bool = False


@workflow("payment", registry=registry)
def bad_payment(ctx, order_id: str, amount: float, parcel: Parcel) -> str:
    return f"{order_id}:{amount}:{parcel.weight}"


@workflow("timeout", registry=registry)
def bad_timeout(ctx, timeout: str) -> str:
    wait_event(ctx, "t.bad.never", timeout=timeout)
    return "unreachable"


@pytest.fixture
def empty_after(sqlite_rows):
    """Asserts at the end of the test that nothing at all was stored."""
    yield
    for table in ("romancy_instances", "romancy_steps", "romancy_events"):
        assert sqlite_rows(f"SELECT count(*) FROM {table}") == [(0,)], table


@pytest.mark.parametrize("args, kwargs, fragment", [
    ((), {}, "missing a required argument: 'order_id'"),
    (("O1", 1.0, {"weight": 1}, "extra"), {}, "too many positional arguments"),
    (("O1", 1.0, {"weight": 1}), {"colour": "red"}, "unexpected keyword argument 'colour'"),
    (("O1", "lots", {"weight": 1}), {}, "amount='lots' is not a valid float"),
    (("O1", 1.0, {"weight": "heavy"}), {}, "weight: Input should be a valid number"),
    (("O1", 1.0, "parcel"), {}, "parcel='parcel' is not a valid Parcel"),
    ((42, 1.0, {"weight": 1}), {}, "order_id=42 is not a valid str"),
    (("O1", 1.0, {"weight": 1}, ), {"parcel": {"weight": 2}}, "multiple values for argument 'parcel'"),
])
def test_wrong_workflow_arguments_are_refused_before_anything_is_stored(sqlite_app, empty_after, args, kwargs,
                                                                        fragment):
    with pytest.raises(WorkflowDefinitionError) as caught:
        sqlite_app.start("payment", *args, **kwargs)
    message = str(caught.value)
    assert "'payment'" in message and fragment in message
    assert "expected (order_id: str, amount: float, parcel: Parcel)" in message or "cannot" in message


def test_value_that_is_not_json_data_is_refused(sqlite_app, empty_after):
    with pytest.raises(WorkflowDefinitionError, match="not JSON-serialisable"):
        sqlite_app.start("payment", "O1", 1.0, object())


def test_checked_arguments_are_stored_as_converted(sqlite_app, sqlite_rows):
    instance_id = bad_payment.start(sqlite_app, "O1", 2, Parcel(0.5))
    assert sqlite_app.get(instance_id).output == "O1:2.0:0.5"
    assert sqlite_rows("SELECT args FROM romancy_instances") == [('["O1",2.0,{"weight":0.5,"fragile":false}]',)]


def test_unknown_workflow_suggests_the_closest_name(sqlite_app, empty_after):
    with pytest.raises(NotFoundError, match=r"unknown workflow 'paymnet': did you mean 'payment'\?"):
        sqlite_app.start("paymnet", "O1")


def test_unknown_workflow_without_close_match_lists_known_ones(sqlite_app, empty_after):
    with pytest.raises(NotFoundError, match=r"unknown workflow 'zzzzzz' \(known: .*payment"):
        sqlite_app.start("zzzzzz")


def test_unknown_instance_id_is_not_found(sqlite_app, empty_after):
    for call in (sqlite_app.get, sqlite_app.cancel, sqlite_app.resume):
        with pytest.raises(NotFoundError, match="no instance 'nope'"):
            call("nope")


@pytest.mark.parametrize("value", ["5 minutes", "1h30", "h", "", "1.2.3s", "-5s", float("nan"), True, [1]])
def test_invalid_duration_is_a_usage_error_naming_the_value(value):
    with pytest.raises(UsageError) as caught:
        to_seconds(value, "timeout")
    shown = repr(value.strip()) if isinstance(value, str) else repr(value)
    assert f"invalid timeout {shown}" in str(caught.value)


@pytest.mark.parametrize("value, seconds", [("90s", 90), ("5m", 300), ("48h", 172800), ("1h30m", 5400),
                                            (12, 12), (1.5, 1.5), ("250ms", 0.25), ("2d", 172800)])
def test_valid_durations(value, seconds):
    assert to_seconds(value) == seconds


def test_invalid_wait_timeout_fails_the_instance_naming_the_value(sqlite_app):
    instance_id = bad_timeout.start(sqlite_app, "a while")
    instance = sqlite_app.get(instance_id)
    assert (instance.status, instance.error["type"]) == ("failed", "UsageError")
    assert "invalid timeout 'a while'" in instance.error["message"]


def test_invalid_retry_interval_is_a_usage_error():
    with pytest.raises(UsageError, match="invalid retry initial_interval 'often'"):
        RetryPolicy(initial_interval="often").delay(1)


def test_app_used_before_initialize_says_what_to_do(sqlite_path):
    app = App(database=sqlite_path, registry=registry)
    with pytest.raises(RomancyError, match="call app.initialize"):
        app.start("payment", "O1", 1.0, {"weight": 1})


def test_workflow_without_context_parameter_is_refused():
    with pytest.raises(WorkflowDefinitionError, match="must take a context"):
        @workflow("no_ctx", registry=registry)
        def no_ctx() -> None:
            return None


class PlainOptions(typing.TypedDict):  # typing's, not typing_extensions'
    express: bool


@workflow("plain_typeddict", registry=registry)
def plain_typeddict(ctx, options: PlainOptions) -> bool:
    return options["express"]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic reads typing.TypedDict from Python 3.12")
def test_typing_typeddict_before_python_312_is_a_clear_definition_error(sqlite_app, empty_after):
    with pytest.raises(WorkflowDefinitionError, match="parameter options: .*typing_extensions.TypedDict"):
        plain_typeddict.start(sqlite_app, {"express": True})

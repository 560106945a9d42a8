"""Values to JSON for history: plain data as json writes it, the rest through to_plain."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import pytest

from romancy_cli.codec import convert, decode_event_data, dumps
from romancy_cli.errors import EventDataError


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Item:
    sku: str
    colour: Colour
    tags: set


def test_plain_data_is_written_compactly_and_unescaped():
    assert dumps({"a": [1, 2.5, None, True], "b": "é"}) == '{"a":[1,2.5,null,true],"b":"é"}'


def test_dataclasses_enums_sets_dates_and_uuids_inside_plain_data_become_plain():
    value = {"items": [Item("A-1", Colour.RED, {"x"})], "at": datetime(2026, 1, 2, 3, 4, 5),
             "id": UUID(int=1), "pair": (1, 2)}
    assert json.loads(dumps(value)) == {
        "items": [{"sku": "A-1", "colour": "red", "tags": ["x"]}], "at": "2026-01-02T03:04:05",
        "id": "00000000-0000-0000-0000-000000000001", "pair": [1, 2]}


def test_keys_json_refuses_are_written_as_text():
    assert json.loads(dumps({(1, 2): "tuple key"})) == {"(1, 2)": "tuple key"}


def test_a_value_that_is_not_data_is_refused_with_a_hint():
    with pytest.raises(TypeError, match="object is not JSON-serialisable: return plain data"):
        dumps({"handle": object()})


@dataclass
class Paid:
    order_id: str
    amount: float
    status: str = "success"


@pytest.mark.parametrize("data", [
    {"order_id": "A", "amount": 1.5},                      # built directly: exact types, default left out
    {"order_id": "A", "amount": 1.5, "status": "late"},
    {"order_id": "A", "amount": 2},                        # an int for a float: pydantic converts it
])
def test_a_plain_dataclass_is_built_as_pydantic_builds_it(data: dict) -> None:
    from pydantic import TypeAdapter

    assert decode_event_data(data, Paid) == convert(data, Paid) == TypeAdapter(Paid).validate_python(data)


@pytest.mark.parametrize("data, problem", [
    ({"order_id": 5, "amount": 1.5}, "order_id"),
    ({"amount": 1.5}, "order_id"),
])
def test_data_that_does_not_fit_a_plain_dataclass_still_names_the_field(data: dict, problem: str) -> None:
    with pytest.raises(EventDataError, match=problem):
        decode_event_data(data, Paid)

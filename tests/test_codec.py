"""Values to JSON for history: plain data as json writes it, the rest through to_plain."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import pytest

from romancy_cli.codec import dumps


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

"""Tests for romancy_cli.http.parsing: HTTP request -> CloudEvents."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from romancy_cli.http.parsing import InvalidEvent, UnsupportedMediaType, parse_request
from romancy_cli.records import EventInput

from ce_sdk import encode

CONFORMANCE = Path(__file__).parent / "conformance" / "cloudevents"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
CORE = {"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time", "data"}
MINIMAL = {"specversion": "1.0", "id": "e1", "type": "com.example.test", "source": "/tests"}
BINARY = {"ce-specversion": "1.0", "ce-id": "e1", "ce-type": "com.example.test", "ce-source": "/tests"}


def _cases(name: str) -> list[Any]:
    tests = json.loads((CONFORMANCE / name).read_text())["tests"]
    return [pytest.param(case["event"], id=case["id"]) for case in tests]


def structured(event: Any, content_type: str = "application/cloudevents+json") -> list[EventInput]:
    return parse_request({"Content-Type": content_type}, json.dumps(event).encode())


def event(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL, **changes}


# --- conformance (structured mode) ---------------------------------------------------------


@pytest.mark.parametrize("case", _cases("valid-events.json"))
def test_conformance_valid(case: dict[str, Any]) -> None:
    [parsed] = structured(case)
    assert (parsed.id, parsed.type, parsed.source) == (case["id"], case["type"], case["source"])
    assert parsed.time == case.get("time")
    assert parsed.subject == case.get("subject")
    assert parsed.data_content_type == case.get("datacontenttype")
    assert parsed.data_schema == case.get("dataschema")
    assert parsed.data == case.get("data")
    assert parsed.extensions == {k: v for k, v in case.items() if k not in CORE}


@pytest.mark.parametrize("case", _cases("invalid-events.json"))
def test_conformance_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as info:
        structured(case)
    assert "\n" not in str(info.value) and str(info.value)


@pytest.mark.parametrize("case", _cases("invalid-events.json"))
def test_conformance_invalid_inside_batch_names_index(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent, match=r"^event 1: "):
        parse_request(BATCH, json.dumps([MINIMAL, case]).encode())


# --- structured mode: strict checks beyond the conformance files ---------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"specversion": 1.0}, "specversion"),
        ({"specversion": "1.0 "}, "specversion"),
        ({"source": "not a uri"}, "source"),
        ({"source": "1a:b"}, "source"),
        ({"source": "/bad%zz"}, "source"),
        ({"dataschema": "/relative/schema.json"}, "dataschema"),
        ({"dataschema": 5}, "dataschema"),
        ({"time": "2018-02-30T00:00:00Z"}, "time"),
        ({"time": "2018-04-05T17:31:61Z"}, "time"),
        ({"time": "2018-04-05T17:31:00+01:60"}, "time"),
        ({"time": "2018-04-05 17:31:00Z"}, "time"),
        ({"time": "٢٠١٨-04-05T17:31:00Z"}, "time"),
        ({"time": 1522949460}, "time"),
        ({"subject": 5}, "subject"),
        ({"datacontenttype": 5}, "datacontenttype"),
        ({"datacontenttype": "text/plain;"}, "datacontenttype"),
        ({"id": "a\nb"}, "id"),
        ({"id": "\ud800"}, "id"),
        ({"myext": 1.5}, "myext"),
        ({"myext": 2**31}, "myext"),
        ({"myext": -(2**31) - 1}, "myext"),
        ({"myext": [1]}, "myext"),
        ({"myext": {"a": 1}}, "myext"),
        ({"my_ext": "x"}, "my_ext"),
        ({"": "x"}, "attribute name"),
        ({"data_base64": "not base64!"}, "data_base64"),
        ({"data_base64": "TWE=!"}, "data_base64"),  # lenient decoders silently drop the '!'
        ({"data_base64": "TW\nE="}, "data_base64"),
        ({"data_base64": 12}, "data_base64"),
        ({"data": None, "data_base64": "TWE="}, "data_base64"),
        ({"datacontenttype": "text/plain", "data": {"a": 1}}, "data"),
        ({"datacontenttype": "application/xml", "data": 5}, "data"),
        ({"datacontenttype": "application/json", "data_base64": base64.b64encode(b"{nope").decode()}, "data"),
    ],
)
def test_structured_strict_checks(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        structured(event(**changes))


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"time": "1990-12-31T23:59:60Z"}, "time", "1990-12-31T23:59:60Z"),  # leap second
        ({"time": "2018-04-05t17:31:00.5z"}, "time", "2018-04-05t17:31:00.5z"),
        ({"source": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}, "source", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
        ({"dataschema": "https://example.com/s.json#/defs/A"}, "data_schema", "https://example.com/s.json#/defs/A"),
        ({"datacontenttype": 'text/plain; charset="utf-8"'}, "data_content_type", 'text/plain; charset="utf-8"'),
        ({"myext": 2**31 - 1}, "extensions", {"myext": 2**31 - 1}),
        ({"myext": -(2**31)}, "extensions", {"myext": -(2**31)}),
        ({"averyveryverylongextensionname": "x"}, "extensions", {"averyveryverylongextensionname": "x"}),
        ({"myext": None, "subject": None}, "extensions", {}),
    ],
)
def test_structured_accepts(changes: dict[str, Any], field: str, expected: Any) -> None:
    [parsed] = structured(event(**changes))
    assert getattr(parsed, field) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"data": {"a": [1, 2]}}, {"a": [1, 2]}),  # no datacontenttype -> JSON
        ({"data": "just a string"}, "just a string"),  # a JSON string, not re-parsed
        ({"datacontenttype": "application/vnd.x+json", "data": [1]}, [1]),
        ({"datacontenttype": "text/plain", "data": "hi"}, "hi"),
        ({"datacontenttype": "application/octet-stream", "data_base64": "AP8="}, "AP8="),
        ({"data_base64": "AP8="}, "AP8="),
        ({"datacontenttype": "text/plain", "data_base64": base64.b64encode("café".encode()).decode()}, "café"),
        ({"datacontenttype": "application/json", "data_base64": base64.b64encode(b'{"a": 1}').decode()}, {"a": 1}),
        # Same representation as binary mode would give for this content type.
        ({"datacontenttype": "application/xml", "data": "<a/>"}, base64.b64encode(b"<a/>").decode()),
    ],
)
def test_structured_data_representation(changes: dict[str, Any], expected: Any) -> None:
    [parsed] = structured(event(**changes))
    assert parsed.data == expected


def test_structured_content_type_parameters_and_case() -> None:
    [parsed] = structured(MINIMAL, "Application/CloudEvents+JSON; charset=UTF-8")
    assert parsed.id == "e1"


def test_structured_ignores_ce_headers() -> None:
    headers = {**BINARY, "ce-id": "from-header", **STRUCTURED}
    [parsed] = parse_request(headers, json.dumps(event(id="from-body")).encode())
    assert parsed.id == "from-body"


def test_extension_target_structured() -> None:
    [parsed] = structured(event(romancyinstanceid="wf-42"))
    assert parsed.extensions == {"romancyinstanceid": "wf-42"}
    assert parsed.target == "wf-42"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "malformed JSON"),
        (b"{not json", "malformed JSON"),
        (b'{"id": NaN}', "NaN"),
        (b"\xff\xfe\x00", "not valid text"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (b'"a string"', "JSON object"),
        (b"[]", "JSON object"),
    ],
)
def test_structured_malformed(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(STRUCTURED, body)


# --- batch mode ----------------------------------------------------------------------------


def test_batch_valid() -> None:
    body = json.dumps([event(id="a"), event(id="b", data={"x": 1})]).encode()
    parsed = parse_request(BATCH, body)
    assert [e.id for e in parsed] == ["a", "b"]
    assert parsed[1].data == {"x": 1}


def test_batch_empty_is_valid() -> None:
    assert parse_request(BATCH, b"[]") == []


def test_batch_is_all_or_nothing_and_names_index() -> None:
    body = json.dumps([event(id="a"), event(id="b"), event(id="c"), event(id="")]).encode()
    with pytest.raises(InvalidEvent, match=r'^event 3: id: must be a non-empty string, got ""$'):
        parse_request(BATCH, body)


@pytest.mark.parametrize(("body", "message"), [(b"{}", "JSON array"), (b"[1]", "event 0: event must be a JSON object"), (b"[", "malformed")])
def test_batch_invalid_shape(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(BATCH, body)


# --- binary mode ---------------------------------------------------------------------------


def binary(body: bytes = b"", content_type: str | None = None, **headers: str) -> EventInput:
    all_headers = {**BINARY, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    [parsed] = parse_request(all_headers, body)
    return parsed


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("caf%C3%A9", "café"),
        ("caf%c3%a9", "café"),  # lower-case hex must be accepted
        ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"),
        ("%61bc", "abc"),  # unnecessary encoding must be accepted
        ('"quoted \\"value\\" 50%25"', 'quoted "value" 50%'),  # older senders' quoted-string
        ("  padded  ", "padded"),
    ],
)
def test_binary_percent_decoding(raw: str, decoded: str) -> None:
    assert binary(ce_subject=raw).subject == decoded


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("%C0%A0", "UTF-8"),  # overlong encoding, MUST be rejected
        ("%ED%A0%80", "UTF-8"),  # encoded surrogate
        ("100%", "two hex digits"),
        ("%zz", "two hex digits"),
        ("café", "printable ASCII"),
        ("%0A", "subject"),  # decodes to a control character
    ],
)
def test_binary_bad_header_values(raw: str, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        binary(ce_subject=raw)


def test_binary_all_attributes_and_extension_target() -> None:
    parsed = binary(
        b'{"order": 7}',
        "application/json; charset=utf-8",
        ce_time="2018-04-05T17:31:00Z",
        ce_dataschema="https://example.com/schema",
        ce_romancyinstanceid="wf%2D42",
    )
    assert parsed == EventInput(
        type="com.example.test",
        source="/tests",
        id="e1",
        data={"order": 7},
        time="2018-04-05T17:31:00Z",
        data_content_type="application/json; charset=utf-8",
        data_schema="https://example.com/schema",
        extensions={"romancyinstanceid": "wf-42"},
    )
    assert parsed.target == "wf-42"


def test_binary_text_plain() -> None:
    parsed = binary("héllo".encode(), "text/plain; charset=utf-8")
    assert (parsed.data, parsed.data_content_type) == ("héllo", "text/plain; charset=utf-8")


def test_binary_text_respects_charset() -> None:
    assert binary("héllo".encode("latin-1"), "text/plain; charset=ISO-8859-1").data == "héllo"


def test_binary_octet_stream_is_base64() -> None:
    parsed = binary(b"\x00\xff\x10", "application/octet-stream")
    assert parsed.data == base64.b64encode(b"\x00\xff\x10").decode()
    assert parsed.data_content_type == "application/octet-stream"


def test_binary_without_content_type_is_json_else_text_else_base64() -> None:
    assert (binary(b'{"a": [1]}').data, binary(b'{"a": [1]}').data_content_type) == ({"a": [1]}, None)
    assert binary(b"raw").data == "raw"
    assert binary(b"NaN").data == "NaN"
    assert binary(b"\xff\x00").data == "/wA="


def test_binary_empty_body_means_no_data() -> None:
    assert binary(b"", "application/json").data is None


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"ce-id": ""}, b"", "id"),
        ({"ce-specversion": "0.3"}, b"", "specversion"),
        ({"ce-time": "lunchtime"}, b"", "time"),
        ({"ce-my.ext": "x"}, b"", "attribute name"),
        ({"ce-datacontenttype": "text/plain"}, b"", "ce-datacontenttype"),
        ({"ce-data": "x"}, b"", "ce-data"),
        ({"Content-Type": "xyz"}, b"", "datacontenttype"),
        ({"Content-Type": "application/json"}, b"{nope", "data: malformed JSON"),
        ({"Content-Type": "text/plain"}, b"\xff", "not valid text"),
        ({"Content-Type": "text/plain; charset=no-such-charset"}, b"x", "not valid text"),
        ({"CE-ID": "dup"}, b"", "duplicate header"),
    ],
)
def test_binary_invalid(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request({**BINARY, **headers}, body)


def test_binary_missing_required_header() -> None:
    headers = {k: v for k, v in BINARY.items() if k != "ce-source"}
    with pytest.raises(InvalidEvent, match="missing required attribute 'source'"):
        parse_request(headers, b"")


def test_binary_wsgi_environ_and_mixed_case() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "text/plain",
        "HTTP_CE_SPECVERSION": "1.0",
        "HTTP_CE_ID": "w1",
        "HTTP_CE_TYPE": "t",
        "HTTP_CE_SOURCE": "/s",
        "HTTP_CE_ROMANCYINSTANCEID": "wf-1",
        "wsgi.input": object(),  # non-str values of a full environ are ignored
    }
    [parsed] = parse_request(environ, b"hi")  # type: ignore[arg-type]
    assert (parsed.id, parsed.data, parsed.target) == ("w1", "hi", "wf-1")
    [parsed] = parse_request({"Ce-SpecVersion": "1.0", "CE-ID": "m1", "Ce-Type": "t", "ce-SOURCE": "/s"}, b"")
    assert parsed.id == "m1"


# --- 415 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain", "ce-id": "x"},  # ce-* but no ce-specversion
        {"Content-Type": "application/cloudevents+avro", **BINARY},
        {"Content-Type": "application/cloudevents-batch+xml"},
        {"Content-Type": "application/cloudevents"},
    ],
)
def test_unsupported_media_type(headers: dict[str, str]) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        parse_request(headers, json.dumps(MINIMAL).encode())
    assert str(info.value)


# --- interoperability with the reference SDK's encoder --------------------------------------


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_sdk_encoded_events_round_trip(mode: str) -> None:
    attributes = {"type": "t", "source": "/s", "id": "i", "subject": "order 7",
                  "romancyinstanceid": "wf-9", "datacontenttype": "application/json"}
    headers, body = encode(mode, attributes, {"k": [1, 2]})
    [parsed] = parse_request(headers, body)
    assert (parsed.subject, parsed.data, parsed.target) == ("order 7", {"k": [1, 2]}, "wf-9")
    assert parsed.time is not None  # the SDK stamps the time; it must pass our RFC 3339 check


# --- robustness: client input never raises anything but our two exceptions ----------------

WRONG_VALUES = [0, 1.5, True, [], {}, [None], {"a": "b"}, "", "\x00", 2**70]


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time"])
@pytest.mark.parametrize("value", WRONG_VALUES, ids=repr)
def test_wrong_json_types_for_core_attributes(attribute: str, value: Any) -> None:
    with pytest.raises(InvalidEvent, match=attribute):
        structured(event(**{attribute: value}))


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json", "application/xml"])
@pytest.mark.parametrize("value", WRONG_VALUES + [None, "x"], ids=repr)
def test_any_data_member_gives_result_or_invalid_event(content_type: str | None, value: Any) -> None:
    changes = {"data": value} if content_type is None else {"data": value, "datacontenttype": content_type}
    try:
        [parsed] = structured(event(**changes))
    except InvalidEvent:
        return
    assert isinstance(parsed, EventInput)


@pytest.mark.parametrize("headers", [STRUCTURED, BATCH, {**BINARY, "Content-Type": "application/json"}, {**BINARY, "Content-Type": "text/plain; charset=utf-16"}])
def test_fuzz_random_bodies(headers: dict[str, str]) -> None:
    rng = random.Random(1234)
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(64))) for _ in range(300)]
    samples += [json.dumps(v).encode() for v in WRONG_VALUES + [None, [MINIMAL, 1], {"data_base64": None}]]
    outcomes = set()
    for body in samples:
        try:
            outcomes.add(type(parse_request(headers, body)).__name__)
        except InvalidEvent:
            outcomes.add("InvalidEvent")
    assert outcomes <= {"list", "InvalidEvent"} and "InvalidEvent" in outcomes


def test_fuzz_random_header_values() -> None:
    rng = random.Random(99)
    alphabet = '%"\\ aZ09\x7f\x80é\t' + "0123456789abcdefABCDEF"
    for _ in range(500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        try:
            [parsed] = parse_request({**BINARY, "ce-subject": value, "ce-ext": value}, b"")
        except InvalidEvent:
            continue
        assert parsed.subject and parsed.extensions["ext"] == parsed.subject


def test_text_data_that_decodes_to_a_lone_surrogate_is_invalid() -> None:
    """A charset can turn bytes into a lone surrogate, which no store can keep: a client error."""
    headers = {**BINARY, "Content-Type": "text/plain; charset=unicode_escape"}
    with pytest.raises(InvalidEvent, match=r"data: U\+D800 is a lone surrogate, not valid Unicode"):
        parse_request(headers, b"caf\\ud800")
    assert parse_request(headers, b"caf\\u00e9")[0].data == "caf\u00e9"


@pytest.mark.parametrize("data, message", [
    (r'"\uDBFF"', r"body: \$\.data: U\+DBFF is a lone surrogate"),
    (r'{"k": ["\ud83d\ude00", "\udE00x"]}', r"body: \$\.data\.k\[1\]: U\+DE00 is a lone surrogate"),
    (r'{"\uD800": 1}', r"body: \$\.data: a key holds U\+D800, a lone surrogate"),
])
def test_structured_data_with_a_lone_surrogate_escape_is_invalid(data: str, message: str) -> None:
    body = '{"specversion": "1.0", "id": "e1", "type": "t", "source": "/s", "data": %s}' % data
    with pytest.raises(InvalidEvent, match=message):
        parse_request(STRUCTURED, body.encode())


def test_paired_surrogate_escapes_and_escaped_backslashes_are_text() -> None:
    body = r'{"specversion": "1.0", "id": "e1", "type": "t", "source": "/s", "data": ["\uD83D\uDE00", "\\ud800"]}'
    assert parse_request(STRUCTURED, body.encode())[0].data == ["\U0001F600", "\\ud800"]

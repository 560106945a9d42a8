"""Turn an HTTP request into CloudEvents (CloudEvents 1.0, HTTP binding, JSON format).

Pure functions: no web framework, no storage. Client mistakes raise InvalidEvent (HTTP 400)
or UnsupportedMediaType (HTTP 415); nothing else is meant to escape for any input.

How `EventInput.data` is represented depends only on `data_content_type`, whatever the
content mode, so a consumer never has to know how the event arrived:
  * JSON (`*/json`, `*/*+json`)  -> the parsed JSON value
  * `text/*`                     -> str
  * absent in binary mode (what the CloudEvents SDKs send for JSON data): the parsed JSON
    value if the body is JSON, else its UTF-8 text, else base64 text of the bytes, as the
    SDKs' own receivers read it
  * anything else, or absent with data_base64 -> base64 text of the bytes
  * absent in structured mode with a `data` member -> the JSON value (JSON format rule)
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any, Mapping, Optional
from urllib.parse import unquote_to_bytes

from romancy_cli.jsonsafe import JsonValueError, lone_surrogate, loads
from romancy_cli.records import EventInput


class InvalidEvent(Exception):
    """The request does not carry valid CloudEvents (HTTP 400)."""


class UnsupportedMediaType(Exception):
    """The request is not in a content mode / event format we accept (HTTP 415)."""


STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
SPECVERSION = "1.0"
REQUIRED = ("specversion", "id", "source", "type")
CORE = frozenset(REQUIRED + ("datacontenttype", "dataschema", "subject", "time"))
INT32 = range(-(2**31), 2**31)

_NAME = re.compile(r"[a-z0-9]+")
# CloudEvents String type forbids control characters, surrogates and noncharacters.
_NONCHARS = "".join(rf"\U{(p << 16) | 0xFFFE:08X}\U{(p << 16) | 0xFFFF:08X}" for p in range(17))
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef" + _NONCHARS + "]")

_RFC3339 = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[Tt]"
    r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))"
)

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e])*"'
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")
_CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)

# RFC 3986 URI-reference; a relative reference's first segment must not contain ':'.
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_URI_TAIL = (
    rf"(?://(?:{_PCHAR}|[\[\]])*)?"  # authority
    rf"(?:{_PCHAR}|/)*"  # path
    rf"(?:\?(?:{_PCHAR}|[/?])*)?"  # query
    rf"(?:#(?:{_PCHAR}|[/?])*)?"  # fragment
)
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*:"
_URI_REFERENCE = re.compile(rf"(?:{_SCHEME}|(?![^/?#]*:)){_URI_TAIL}")
_ABSOLUTE_URI = re.compile(rf"{_SCHEME}{_URI_TAIL}")

_HEADER_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string",
               list: "array", dict: "object", type(None): "null"}


def parse_request(headers: Mapping[str, str], body: bytes) -> list[EventInput]:
    """Parse a request in structured, batched or binary content mode.

    headers: case-insensitive lookup is your job (WSGI-style or plain dict with any case).
    Batch errors name the 0-based index: "event 3: ...". An empty batch gives [].
    """
    headers = _normalize_headers(headers)
    content_type = headers.get("content-type", "").strip()
    essence = content_type.split(";")[0].strip().lower()
    if essence == STRUCTURED:
        return [_event_from_json(_parse_json(_decode_text(body, content_type, "body"), "body"))]
    if essence == BATCH:
        return _batch(_parse_json(_decode_text(body, content_type, "body"), "body"))
    if essence.startswith("application/cloudevents"):
        raise UnsupportedMediaType(f"unsupported CloudEvents format {essence!r}; use {STRUCTURED} or {BATCH}")
    if "ce-specversion" in headers:
        return [_binary_event(headers, body)]
    shown = f"Content-Type {essence!r}" if essence else "no Content-Type"
    raise UnsupportedMediaType(f"{shown}: expected {STRUCTURED}, {BATCH}, or a ce-specversion header")


def _normalize_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lowercase names; map WSGI environ keys (HTTP_CE_ID, CONTENT_TYPE) to header names."""
    result: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue  # e.g. wsgi.input when a whole environ is passed
        name = key.lower()
        if name.startswith("http_"):
            name = name[len("http_"):].replace("_", "-")
        elif name in ("content_type", "content_length"):
            name = name.replace("_", "-")
        if name in result:
            raise InvalidEvent(f"duplicate header {name!r}")
        result[name] = value
    return result


def _batch(events: Any) -> list[EventInput]:
    if not isinstance(events, list):
        raise InvalidEvent(f"batch body must be a JSON array, got {_json_type(events)}")
    parsed = []
    for index, event in enumerate(events):
        try:
            parsed.append(_event_from_json(event))
        except InvalidEvent as exc:
            raise InvalidEvent(f"event {index}: {exc}") from None
    return parsed


def _event_from_json(event: Any) -> EventInput:
    if not isinstance(event, dict):
        raise InvalidEvent(f"event must be a JSON object, got {_json_type(event)}")
    # JSON format: a null attribute is the same as an absent one.
    attributes = {k: v for k, v in event.items() if k not in ("data", "data_base64") and v is not None}
    _validate(attributes)
    content_type = attributes.get("datacontenttype")
    encoded = event.get("data_base64")
    if encoded is None:
        return _event_input(attributes, _data_from_member(event.get("data"), content_type))
    if "data" in event:
        raise InvalidEvent("'data' and 'data_base64' must not both be present")
    return _event_input(attributes, _data_from_bytes(_b64decode(encoded), content_type))


def _binary_event(headers: dict[str, str], body: bytes) -> EventInput:
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        if not name.startswith("ce-"):
            continue
        attribute = name[len("ce-"):]
        if attribute in ("datacontenttype", "data"):
            raise InvalidEvent(f"header ce-{attribute} is not allowed in binary mode (use Content-Type and the body)")
        attributes[attribute] = _decode_header_value(name, value)
    content_type = headers.get("content-type", "").strip()
    if content_type:
        attributes["datacontenttype"] = content_type
    _validate(attributes)
    if not content_type:
        return _event_input(attributes, _sniff(body))
    return _event_input(attributes, _data_from_bytes(body, content_type))


def _sniff(raw: bytes) -> Any:
    """A binary-mode body without Content-Type: JSON, else UTF-8 text, else base64."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")
    try:
        return loads(text)
    except ValueError:  # JsonValueError too: NaN is no JSON, so the body stays text
        return text


def _decode_header_value(name: str, value: str) -> str:
    """HTTP binding 3.1.3.2: unescape a quoted-string, then one round of percent-decoding."""
    value = value.strip(" \t")
    quoted = _HEADER_QUOTED.fullmatch(value)
    if quoted:
        value = re.sub(r"\\(.)", r"\1", quoted.group(1))
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise InvalidEvent(f"header {name}: value must be printable ASCII (percent-encode other characters)")
    if _BAD_PERCENT.search(value):
        raise InvalidEvent(f"header {name}: '%' must be followed by two hex digits")
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent(f"header {name}: percent-encoded bytes are not valid UTF-8") from None


def _validate(attributes: dict[str, Any]) -> None:
    for name, value in attributes.items():
        if not _NAME.fullmatch(name):
            raise InvalidEvent(f"invalid attribute name {_show(name)}: only lowercase a-z and 0-9 are allowed")
        if isinstance(value, str) and _FORBIDDEN_CHARS.search(value):
            raise InvalidEvent(f"{name}: contains a control character, surrogate or noncharacter")
    _check_required(attributes)
    _check_optional(attributes)
    for name, value in attributes.items():
        if name not in CORE:
            _check_extension(name, value)


def _check_required(attributes: dict[str, Any]) -> None:
    for name in REQUIRED:
        if name not in attributes:
            raise InvalidEvent(f"missing required attribute '{name}'")
        if not isinstance(attributes[name], str) or not attributes[name]:
            raise InvalidEvent(f"{name}: must be a non-empty string, got {_show(attributes[name])}")
    if attributes["specversion"] != SPECVERSION:
        raise InvalidEvent(f"specversion: must be \"{SPECVERSION}\", got {_show(attributes['specversion'])}")
    if not _URI_REFERENCE.fullmatch(attributes["source"]):
        raise InvalidEvent(f"source: not a valid URI-reference: {_show(attributes['source'])}")


def _check_optional(attributes: dict[str, Any]) -> None:
    checks = {
        "subject": (lambda v: True, "a non-empty string"),
        "datacontenttype": (_MEDIA_TYPE.fullmatch, "an RFC 2046 media type such as 'application/json'"),
        "dataschema": (_ABSOLUTE_URI.fullmatch, "an absolute URI"),
        "time": (_is_rfc3339, "an RFC 3339 timestamp such as '2018-04-05T17:31:00Z'"),
    }
    for name, (is_valid, expected) in checks.items():
        if name not in attributes:
            continue
        value = attributes[name]
        if not isinstance(value, str) or not value or not is_valid(value):
            raise InvalidEvent(f"{name}: must be {expected}, got {_show(value)}")


def _check_extension(name: str, value: Any) -> None:
    if isinstance(value, (str, bool)):
        return
    if isinstance(value, int):
        if value not in INT32:
            raise InvalidEvent(f"{name}: integer {value} is outside the signed 32-bit range")
        return
    raise InvalidEvent(f"{name}: extension value must be a string, integer or boolean, got {_json_type(value)}")


def _is_rfc3339(value: str) -> bool:
    match = _RFC3339.fullmatch(value)
    if not match:
        return False
    second = int(match["s"])
    if second > 60 or int(match["oh"] or 0) > 23 or int(match["om"] or 0) > 59:
        return False
    try:  # a leap second (60) is valid RFC 3339 but not representable by datetime
        datetime(int(match["y"]), int(match["mo"]), int(match["d"]), int(match["h"]), int(match["mi"]), min(second, 59))
    except ValueError:
        return False
    return True


def _data_kind(content_type: str) -> str:
    media_type, _, subtype = content_type.split(";")[0].strip().lower().partition("/")
    if subtype == "json" or subtype.endswith("+json"):
        return "json"
    return "text" if media_type == "text" else "binary"


def _data_from_member(value: Any, content_type: Optional[str]) -> Any:
    """The structured-mode `data` member; absent datacontenttype means JSON."""
    if value is None or content_type is None or _data_kind(content_type) == "json":
        return value
    if not isinstance(value, str):
        raise InvalidEvent(f"data: must be a string for datacontenttype {_show(content_type)}, got {_json_type(value)}")
    if _data_kind(content_type) == "text":
        return value
    return base64.b64encode(value.encode("utf-8")).decode("ascii")  # the body's check refused surrogates


def _data_from_bytes(raw: bytes, content_type: Optional[str]) -> Any:
    """A binary-mode body or decoded data_base64; absent datacontenttype means opaque bytes."""
    if not raw:
        return None
    kind = _data_kind(content_type) if content_type else "binary"
    if kind == "json":
        return _parse_json(_decode_text(raw, content_type, "data"), "data")
    if kind == "text":
        return _decode_text(raw, content_type, "data")
    return base64.b64encode(raw).decode("ascii")


def _b64decode(encoded: Any) -> bytes:
    if not isinstance(encoded, str):
        raise InvalidEvent(f"data_base64: must be a string, got {_json_type(encoded)}")
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise InvalidEvent("data_base64: not valid base64") from None


def _decode_text(raw: bytes, content_type: Optional[str], what: str) -> str:
    match = _CHARSET.search(content_type or "")
    charset = match.group(1) if match else "utf-8"
    try:
        text = raw.decode(charset)
    except (LookupError, ValueError, TypeError):
        raise InvalidEvent(f"{what}: not valid text in charset {_show(charset)}") from None
    index = lone_surrogate(text)  # the one place request text enters; some codecs make surrogates
    if index is not None:
        raise InvalidEvent(f"{what}: U+{ord(text[index]):04X} is a lone surrogate, not valid Unicode; "
                           "send UTF-8 text")
    return text


def _parse_json(text: str, what: str) -> Any:
    try:
        return loads(text)
    except JsonValueError as exc:
        raise InvalidEvent(f"{what}: {exc}") from None
    except ValueError as exc:
        raise InvalidEvent(f"{what}: malformed JSON: {exc}") from None


def _event_input(attributes: dict[str, Any], data: Any) -> EventInput:
    return EventInput(
        type=attributes["type"],
        source=attributes["source"],
        id=attributes["id"],
        data=data,
        subject=attributes.get("subject"),
        time=attributes.get("time"),
        data_content_type=attributes.get("datacontenttype"),
        data_schema=attributes.get("dataschema"),
        extensions={k: v for k, v in attributes.items() if k not in CORE},
    )


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """Short one-line JSON rendering of a client value for error messages."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."

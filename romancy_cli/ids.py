"""Instance and event ids: sortable by creation time (ULID-style), prefixed by workflow name."""

from __future__ import annotations

import hashlib
import os
import time
import unicodedata

from .errors import UsageError

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
# What an id given by a user may not hold: `/` (no URL route can carry it: servers decode %2F),
# and characters that do not show as themselves: controls (Cc, C0 and C1), format characters such
# as the bidi overrides (Cf: U+202E shows text reversed), surrogates (Cs), line and paragraph
# separators and spaces (Zl, Zp, Zs).
_REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp", "Zs")
_ALLOWED = ("letters, digits, marks, punctuation and symbols (`-`, `_`, `.`, `:`, `é`...); no `/`, "
           "whitespace, control or format (bidi) characters")


def _base32(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


_last = [0, 0]


def ulid() -> str:
    """26 characters: 48-bit millisecond time then 80 random bits, increasing within a process."""
    millis = int(time.time() * 1000)
    random_part = int.from_bytes(os.urandom(10), "big")
    if millis <= _last[0]:
        # Same millisecond: keep ids increasing so creation order sorts correctly.
        millis, random_part = _last[0], _last[1] + 1
    _last[0], _last[1] = millis, random_part
    return _base32(millis, 10) + _base32(random_part, 16)


def check_instance_id(instance_id: str) -> None:
    """An instance id a user chose, refused (UsageError) when a URL or a terminal could not show
    it as itself: every HTTP route must reach it, and its text must be what a reader sees."""
    if not isinstance(instance_id, str):
        raise UsageError(f"an instance id must be a string, got {instance_id!r}")
    for position, char in enumerate(instance_id):
        if char == "/" or char.isspace() or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise UsageError(f"instance id {instance_id!r} holds {_named(char)} at position {position + 1}: "
                             f"an id may hold {_ALLOWED}; choose another id")


def _named(char: str) -> str:
    if char == "/":
        return "'/'"
    unnamed = "a lone surrogate" if unicodedata.category(char) == "Cs" else "a control character"
    return f"U+{ord(char):04X} ({unicodedata.name(char, unnamed)})"


def new_instance_id(workflow: str) -> str:
    return f"{workflow}-{ulid()}"


def new_event_id() -> str:
    return ulid()


def event_instance_id(workflow: str, source: str, event_id: str) -> str:
    """The instance an event starts: one per (source, id), so a redelivered event starts nothing new."""
    digest = hashlib.sha256(f"{source}\n{event_id}".encode()).digest()
    return f"{workflow}-{_base32(int.from_bytes(digest[:16], 'big'), 26)}"


SHORT_ID_CHARS = 6  # a short id keeps at least this much after its workflow's name (git keeps 7)


def short_id_floor(instance_id: str, workflow: str) -> str:
    """The least a short id shows: the workflow's name and a few characters of the rest (all of
    an id that is not `workflow-...`, up to the same number of characters)."""
    named = instance_id.startswith(workflow + "-")
    keep = len(workflow) + 1 + SHORT_ID_CHARS if named else SHORT_ID_CHARS + 1
    return instance_id[:keep]


def shortest_unique(instance_id: str, floor: str, others: list[str]) -> str:
    """The shortest prefix of `instance_id`, no shorter than `floor`, that starts none of
    `others` (the ids that share `floor` with it); the whole id when none is shorter."""
    length = len(floor)
    for other in others:
        if other != instance_id:
            common = 0
            while common < min(len(other), len(instance_id)) and other[common] == instance_id[common]:
                common += 1
            length = max(length, common + 1)
    return instance_id[:length]

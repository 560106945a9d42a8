"""Driver errors of the database itself, turned into errors.StorageFault with one clear line.

Only faults of the machinery are translated (peewee's OperationalError and InterfaceError: locks,
full disks, read-only files, lost connections). IntegrityError and ProgrammingError are answers
about the data or bugs, and pass unchanged.
"""

from __future__ import annotations

import os
from typing import Iterator, Optional

import peewee as pw

from ..errors import StorageFault

FAULTS = (pw.OperationalError, pw.InterfaceError)

# (text in the driver's message, kind, what the user reads: {where} is the database)
_KNOWN = (
    ("database is locked", "locked",
     "database {where} is locked by another process (held > {timeout:g} s); retry once it is released"),
    ("database table is locked", "locked",
     "database {where} is locked by another process (held > {timeout:g} s); retry once it is released"),
    ("database or disk is full", "disk_full", "disk full: cannot write database {where}; free space and retry"),
    ("no space left", "disk_full", "disk full: cannot write database {where}; free space and retry"),
    ("could not extend file", "disk_full", "disk full: cannot write database {where}; free space and retry"),
    ("readonly database", "read_only",
     "database file is read-only: {where}; make it (and its folder) writable and retry"),
    ("read-only", "read_only", "database is read-only: {where}; make it writable and retry"),
    ("terminating connection", "connection", "database connection lost ({where}): {reason}; retry"),
    ("server closed the connection", "connection", "database connection lost ({where}): {reason}; retry"),
    ("connection is closed", "connection", "database connection lost ({where}): {reason}; retry"),
    ("connection is lost", "connection", "database connection lost ({where}): {reason}; retry"),
    ("consuming input failed", "connection", "database connection lost ({where}): {reason}; retry"),
)


def storage_fault(exc: BaseException, where: str, busy_timeout: float = 30.0) -> StorageFault:
    """The fault behind `exc`. A failed rollback hides the real cause ("cannot rollback - no
    transaction is active" after SQLite rolled back a full disk's transaction itself), so the
    whole chain of errors is read, the first recognised one winning."""
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, StorageFault):
            return error
    for error in chain:
        text = str(error).lower()
        for needle, kind, template in _KNOWN:
            if needle in text:
                reason = _first_line(error)
                return StorageFault(template.format(where=where, timeout=busy_timeout, reason=reason), kind)
    if any("disk i/o error" in str(error).lower() for error in chain) and _no_room(where):
        # SQLite says "disk I/O error" when a write of the WAL, rather than of the database, finds
        # no room: the same full disk, to be answered the same way (507, then freed room is used).
        return StorageFault(_KNOWN[2][2].format(where=where), "disk_full")
    return StorageFault(f"database error ({where}): {_first_line(exc)}; retry, or run with -v for details")


def _no_room(where: str) -> bool:
    """Whether the folder of a database file has (almost) no free space; False for a URL."""
    try:
        stats = os.statvfs(os.path.dirname(os.path.abspath(where)))
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def _chain(exc: Optional[BaseException]) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

"""Storage back ends. `open_store` picks one from the database setting."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # peewee is imported on first use: see import_for_sqlite_only
    from .sql import SqlStore

_POSTGRES_DRIVERS = ("psycopg2", "psycopg")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(database: str, **options: Any) -> SqlStore:
    """SQLite for a path (or sqlite:///path), PostgreSQL for a postgresql:// URL."""
    if is_postgres(database):
        from .postgres import open_postgres

        return open_postgres(database)
    from .sqlite import open_sqlite

    path = database[len("sqlite:///"):] if database.startswith("sqlite:///") else database
    return open_sqlite(path, **options)


def import_for_sqlite_only() -> None:
    """For a process that will open one SQLite database and nothing else (a `romancy` command):
    import peewee without the PostgreSQL drivers it imports at start-up when they are installed
    (psycopg: ~0.1 s of every command). They stay importable by the process's own code; only
    peewee's PostgreSQL support is left out of this process."""
    if "peewee" in sys.modules:
        return
    hidden = [name for name in _POSTGRES_DRIVERS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        import peewee  # noqa: F401
    finally:
        for name in hidden:
            sys.modules.pop(name, None)

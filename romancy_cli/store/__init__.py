"""Storage back ends. `open_store` picks one from the database setting."""

from __future__ import annotations

from typing import Any

from .sql import SqlStore


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

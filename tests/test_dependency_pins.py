"""The one private attribute of peewee that romancy relies on (ARCHITECTURE.md, Private APIs):
`store/postgres.py`'s `_Database.is_closed` reads the thread's connection state to reopen a
connection the server dropped. peewee has no public way to see that; pyproject.toml pins the
tested range, and this test fails, naming the attribute, when a new peewee changes it."""

from __future__ import annotations

from playhouse.pool import PooledPostgresqlDatabase

PIN = "peewee>=3.17,<5 in pyproject.toml"


def test_peewee_still_keeps_the_connection_state_postgres_py_reads() -> None:
    state = PooledPostgresqlDatabase("romancy_pin_check")._state
    missing = [name for name in ("conn", "closed", "transactions") if not hasattr(state, name)]
    assert missing == [], f"peewee's Database._state lacks {missing}: fix store/postgres.py _Database.is_closed ({PIN})"
    assert (state.conn, state.closed, list(state.transactions)) == (None, True, [])

"""PostgreSQL: the scale-out store. SqlStore plus row locks, SKIP LOCKED claims and LISTEN/NOTIFY.

Several workers (on several machines) share one database:
- claims of due timers and runnable instances read `FOR UPDATE SKIP LOCKED`, so a worker never
  waits on, or fires twice, a row another worker is claiming;
- deliveries and suspensions of one event type take one transaction-scoped advisory lock, so an
  event committed while an instance suspends on `wait_event` is always seen by one of the two;
- transactions run READ COMMITTED whatever the server default, because that argument needs each
  statement after the lock to see what committed before it;
- a commit that makes work for other workers sends `NOTIFY romancy_wake`; `wait_for_wake` listens.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

from ..errors import DatabaseError, UnavailableError, UsageError
from .schema import migrate
from .sql import SqlStore

WAKE_CHANNEL = "romancy_wake"
INSTALL_HINT = "PostgreSQL support is not installed: pip install 'romancy-cli[postgres]'"
_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")  # the password in a URL, hidden in messages
CONNECT_TIMEOUT = 10  # seconds; libpq waits for the OS (minutes) when a host does not answer

# Advisory locks take two int4 keys; the first is our namespace so that we never collide with
# locks an application takes on a shared database.
_LOCK_MIGRATE = 0x726F6D61  # "roma"
_LOCK_EVENT_TYPE = _LOCK_MIGRATE + 1
_LOCK_FLOOR = _LOCK_MIGRATE + 2  # instance start floors vs events being stored
_LOCK_QUEUE = _LOCK_MIGRATE + 3  # admissions to and promotions from one queue (store/queues.py)


def _require_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UnavailableError(INSTALL_HINT) from None
    return psycopg


class _Target:
    """Where a postgresql:// URL points, and how to name it without its password."""

    def __init__(self, url: str, psycopg: Any) -> None:
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            reason = _PASSWORD.sub(r"\1***@", _one_line(exc))
            raise UsageError(f"invalid PostgreSQL URL in `database`: {reason}") from None
        self.url = url
        self.host = str(params.get("host") or "localhost")
        self.port = str(params.get("port") or 5432)
        self.dbname = str(params.get("dbname") or params.get("user") or "")
        user = f"{params['user']}@" if params.get("user") else ""
        self.location = f"postgresql://{user}{self.host}:{self.port}/{self.dbname}"
        self.extra: dict[str, Any] = {}
        if "connect_timeout" not in params:
            self.extra["connect_timeout"] = CONNECT_TIMEOUT
        if "application_name" not in params:
            self.extra["application_name"] = "romancy-cli"


class _Database(PooledPostgresqlDatabase):
    """The pool lets close() end every thread's connection; a dropped one is reopened on next use."""

    def is_closed(self) -> bool:
        conn = self._state.conn
        if not self._state.closed and conn is not None and conn.closed and not self._state.transactions:
            # The server went away (restart, failover, idle kill): the query that noticed has
            # already failed; reconnect for the next one instead of failing this thread forever.
            self.close()
        return bool(self._state.closed)


class PostgresStore(SqlStore):
    LOCK_SQL = " FOR UPDATE"  # rows an event satisfies, a cancel: wait for the other writer
    CLAIM_SQL = " FOR UPDATE SKIP LOCKED"  # due timers, leases: another worker has them, skip
    def __init__(self, db: pw.Database, target: _Target) -> None:
        super().__init__(db, target.location)
        self._target = target
        self._psycopg = _require_psycopg()
        self._listener: Any = None
        self._listen_lock = threading.Lock()

    # -- dialect hooks -------------------------------------------------------------

    def _lock_event_type(self, event_type: str) -> None:
        self.db.execute_sql("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_EVENT_TYPE, event_type))

    def _lock_queue(self, name: str) -> None:
        self.db.execute_sql("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_QUEUE, name))

    def _lock_event_floor(self) -> None:
        self.db.execute_sql("SELECT pg_advisory_xact_lock(%s, 1)", (_LOCK_FLOOR,))

    def start_floor(self) -> int:
        # Waits for events being stored to commit, so none commits later with a smaller seq.
        with self.db.atomic():
            self._lock_event_floor()
            return super().start_floor()

    def _share_event_floor(self) -> None:
        self.db.execute_sql("SELECT pg_advisory_xact_lock_shared(%s, 1)", (_LOCK_FLOOR,))

    def _lock_migration(self) -> None:
        self.db.execute_sql("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_MIGRATE,))

    # -- wake-ups ------------------------------------------------------------------

    def notify(self, reason: str) -> None:
        """Queue a wake-up for listening workers; PostgreSQL sends it when the transaction commits."""
        self.db.execute_sql("SELECT pg_notify(%s, %s)", (WAKE_CHANNEL, reason))

    def listen(self) -> None:
        """Start listening now (wait_for_wake does it on first use); notifications queue from here on."""
        with self._listen_lock:
            self._listen_connection()

    def wait_for_wake(self, timeout: float) -> bool:
        """Block until a romancy_wake notification or `timeout` seconds; True when woken.

        Notifications that arrived since the last call return at once; a burst counts as one.
        One dedicated autocommit connection listens; one thread waits at a time."""
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._listen_lock.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            conn = self._listen_connection()
            left = max(0.0, deadline - time.monotonic())
            if not list(conn.notifies(timeout=left, stop_after=1)):
                return False
            list(conn.notifies(timeout=0))  # drain the rest of a burst
            return True
        except self._psycopg.Error:
            # Lost or unreachable: report "not woken" after the timeout, reconnect on the next call.
            self._drop_listener()
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False
        finally:
            self._listen_lock.release()

    def _listen_connection(self) -> Any:
        if self._listener is None or self._listener.closed:
            conn = self._psycopg.connect(self._target.url, autocommit=True, **self._target.extra)
            conn.execute(f"LISTEN {WAKE_CHANNEL}")
            self._listener = conn
        return self._listener

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except Exception:  # already broken; nothing left to release
                pass

    def close(self) -> None:
        with self._listen_lock:
            self._drop_listener()
        self.db.close_all()  # type: ignore[attr-defined]


def _one_line(exc: BaseException) -> str:
    """libpq's reason without its "connection to server at ... failed:" prefix and hint lines."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text.rsplit(" failed: ", 1)[-1]


def open_postgres(url: str) -> PostgresStore:
    """Connect, migrate the schema under an advisory lock, and return the store."""
    psycopg = _require_psycopg()
    target = _Target(url, psycopg)
    db = _Database(target.url, prefer_psycopg3=True, isolation_level="READ COMMITTED",
                   max_connections=None, **target.extra)
    try:
        db.connect()
    except pw.DatabaseError as exc:
        raise UnavailableError(
            f"cannot connect to PostgreSQL at {target.host}:{target.port}: {_one_line(exc)}; "
            "check the `database` URL and that the server is running"
        ) from None
    try:
        store = PostgresStore(db, target)
        migrate(db, store.m, target.location, lock=store._lock_migration)
    except pw.DatabaseError as exc:
        db.close_all()
        raise DatabaseError(f"cannot open database {target.location}: {_one_line(exc)}") from None
    except BaseException:
        db.close_all()
        raise
    return store


__all__ = ["PostgresStore", "open_postgres", "WAKE_CHANNEL", "INSTALL_HINT"]

"""The embedded default: one SQLite file in WAL mode, write transactions begun IMMEDIATE."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Optional

import peewee as pw

from ..errors import DatabaseError, StorageFault, UnavailableError
from .faults import FAULTS
from .schema import migrate
from .sql import SqlStore

_HEADER = b"SQLite format 3\x00"
SYNCHRONOUS = ("off", "normal", "full", "extra")
# A small page cache: pages beyond it come from the OS file cache at little cost, and memory no
# longer grows with the number of waiting instances (measured: 0.4 MiB per 10,000 at 512 KiB).
CACHE_KIB = 512
# SQLite copies the WAL back into the database file (a checkpoint, with fsyncs) inside whichever
# commit crosses wal_autocheckpoint pages, so one commit in ~200 stalled. With synchronous NORMAL
# (or OFF) a thread of the store checkpoints instead, once a burst of writes pauses (measured on
# HTTP's accept + resume: commit time per event 150 -> 96 us); the writers' own checkpoint stays,
# at a higher mark, as a bound should that thread fall behind. With FULL every commit already
# fsyncs the WAL, and a longer WAL made those fsyncs slower (W1 1,443 -> 923 starts/s): SQLite's
# own checkpoints are kept there.
BACKGROUND_CHECKPOINTS = ("off", "normal")
CHECKPOINT_GAP = 0.05  # seconds without a commit of this process: the burst has ended
CHECKPOINT_BACKLOG = 1000  # commits since the last checkpoint: checkpoint even while writes go on
CHECKPOINT_IDLE = 5.0  # seconds: checkpoint anyway, for what other processes wrote
STOP_WAIT = 1.0  # seconds close() waits for a checkpoint in progress
AUTOCHECKPOINT_PAGES = 16384
SQLITE_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default
FULL_BELOW = 64 * 1024  # free bytes under which a failed open is blamed on a full disk
# A checkpoint that empties the WAL truncates its file to this size: without it the file keeps
# the size of its longest burst for good, room a database on a small disk cannot spare.
WAL_LIMIT = 4 * 1024 * 1024
# After a full disk, each write first empties the WAL into the database file (and truncates it)
# until the disk has this much room: the WAL otherwise grows until the next checkpoint (1,000
# commits under steady load) and takes back the room that was freed (~45 events on a 1 MiB disk).
ROOMY = AUTOCHECKPOINT_PAGES * 4096

log = logging.getLogger("romancy.store")


class _Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own thread: it never waits for
    writers, and writers never wait for it. Started by the first write of this process."""

    def __init__(self, db: pw.Database) -> None:
        self.db = db
        self.commits = 0  # write transactions of this process
        self.done = 0  # ...of which the last checkpoint copied
        self.due = threading.Event()
        self.stopping = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def committed(self) -> None:
        """Called after each write transaction, under the writer lock."""
        self.commits += 1
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="romancy-checkpoint", daemon=True)
            self.thread.start()
        if self.commits - self.done == 1:
            self.due.set()

    def _loop(self) -> None:
        try:
            while not self.stopping.is_set():
                if self.commits == self.done:
                    self.due.wait(CHECKPOINT_IDLE)
                    self.due.clear()
                if not self._settled():
                    break
                copied = self.commits
                self.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.done = copied
        except Exception:  # noqa: BLE001 - the writers' own checkpoints still bound the WAL
            log.exception("background checkpoint failed; commits will checkpoint the WAL themselves")
        finally:
            self.db.close()  # this thread's connection

    def _settled(self) -> bool:
        """Wait for a pause in this process's writes, or for a backlog; False when stopping."""
        while True:
            seen = self.commits
            if self.stopping.wait(CHECKPOINT_GAP):
                return False
            if self.commits == seen or self.commits - self.done >= CHECKPOINT_BACKLOG:
                return True

    def stop(self) -> None:
        """Ends the thread, waiting at most STOP_WAIT: a checkpoint's fsync can take seconds on a
        busy disk, and a process that exits in the middle of one leaves a valid WAL behind."""
        if self.thread is not None:
            self.stopping.set()
            self.due.set()
            self.thread.join(STOP_WAIT)
            self.thread = None


def _check_path(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UnavailableError(
            f"cannot open database {path}: folder {folder} does not exist; create it or change `database`"
        )
    if os.path.isdir(path):
        raise DatabaseError(f"cannot open database {path}: it is a folder; give a file path")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as handle:
            if handle.read(16) != _HEADER:
                raise DatabaseError(
                    f"{path} is not a SQLite database; point `database` at a new file or a romancy database"
                )


class SqliteStore(SqlStore):
    """Writers of this process queue on a lock before BEGIN IMMEDIATE: SQLite's own busy handler
    sleeps in steps of up to 25 ms, which showed as a 90 ms p99 under concurrent HTTP load."""

    def __init__(self, db: pw.Database, location: str, background_checkpoints: bool = True,
                 busy_timeout: float = 30.0) -> None:
        super().__init__(db, location)
        self.busy_timeout = busy_timeout
        self._writer = threading.Lock()
        self._checkpointer = _Checkpointer(db) if background_checkpoints else None
        self._tight = False  # since a write found the disk full, until it has ROOMY free bytes

    def _before_write(self) -> None:
        if self.last_fault is not None and self.last_fault.kind == "disk_full":
            self._tight = True
        if self._tight and _free_bytes(os.path.dirname(os.path.abspath(self.location))) >= ROOMY:
            self._tight = False
        if self._tight:
            try:
                self.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except FAULTS:  # still no room for the WAL's pages: the write that follows says so
                pass

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        super().close()


def _open_failure(path: str, exc: BaseException) -> BaseException:
    """Why a file could not be opened. SQLite says only "disk I/O error" or "unable to open
    database file" when its WAL files find no room or cannot be written: look for those causes."""
    folder = os.path.dirname(os.path.abspath(path))
    if _free_bytes(folder) < FULL_BELOW:
        return StorageFault(f"disk full: cannot open database {path}; free space and retry", "disk_full")
    if not all(os.access(p, os.W_OK) for p in (folder, path) if os.path.exists(p)):
        return StorageFault(f"database file is read-only: {path}; make it (and its folder) writable and retry",
                            "read_only")
    return DatabaseError(f"cannot open database {path}: {exc}")


def _free_bytes(folder: str) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return FULL_BELOW


def open_sqlite(path: str, synchronous: str = "normal", busy_timeout: float = 30.0) -> SqlStore:
    if synchronous not in SYNCHRONOUS:
        raise DatabaseError(f"invalid synchronous mode {synchronous!r}: use one of {', '.join(SYNCHRONOUS)}")
    _check_path(path)
    background = synchronous in BACKGROUND_CHECKPOINTS
    db = pw.SqliteDatabase(
        path, lock_type="IMMEDIATE", check_same_thread=False,
        pragmas={"synchronous": synchronous, "busy_timeout": int(busy_timeout * 1000),
                 "cache_size": -CACHE_KIB, "journal_size_limit": WAL_LIMIT,
                 "wal_autocheckpoint": AUTOCHECKPOINT_PAGES if background else SQLITE_AUTOCHECKPOINT_PAGES},
    )
    try:
        db.connect(reuse_if_open=True)
        store = SqliteStore(db, path, background, busy_timeout)
        migrate(db, store.m, path, lock=lambda: None)
        # WAL is a property of the file: switch only once it is known to be ours, so a refused
        # (foreign or newer) file is left exactly as it was.
        db.execute_sql("PRAGMA journal_mode=wal")
    except pw.DatabaseError as exc:
        db.close()
        raise _open_failure(path, exc) from None
    except BaseException:  # a refused (foreign or newer) database: do not leak the connection
        db.close()
        raise
    return store

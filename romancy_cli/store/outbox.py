"""The outbox of events to relay (schema 7): queued with the step that published them, claimed by
one relay at a time under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, as timers are), and
marked after each attempt."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..errors import NotFoundError, RomancyError
from ..records import FAILED, PENDING, Attempt, OutboxItem
from .queries import EVENT_COLUMNS

_ITEM_COLUMNS = ", ".join(f"e.{c.strip()}" for c in EVENT_COLUMNS.split(",")) + (
    ", o.target, o.status, o.attempts, o.last_error, o.next_attempt_at")
_ITEMS = f"SELECT {_ITEM_COLUMNS} FROM romancy_outbox o JOIN romancy_events e ON e.seq = o.event_seq"
# Pending rows whose lease is free, as the partial index romancy_outbox_due is limited to them.
_DUE = (f"SELECT event_seq FROM romancy_outbox WHERE status = '{PENDING}' AND next_attempt_at <= ? "
        "AND (lease_until IS NULL OR lease_until < ?)")


def _marks(count: int) -> str:
    return ", ".join(["?"] * count)


class Outbox:
    """Mixed into SqlStore, whose _run, _one, _write, q and conversions it uses."""

    def _queue_relay(self: Any, event_seq: int, target: str, now: float) -> None:
        """Inside the transaction that stores the published event."""
        self._run(self.q._p("INSERT INTO romancy_outbox (event_seq, target, status, attempts, next_attempt_at) "
                            "VALUES (?, ?, ?, 0, ?)"), (event_seq, target, PENDING, now))

    def next_outbox_due(self: Any) -> Optional[float]:
        """When the earliest pending event may be attempted (a leased one: when its lease ends)."""
        return self._one(self.q._p(
            "SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END) "
            f"FROM romancy_outbox WHERE status = '{PENDING}' AND next_attempt_at IS NOT NULL"))[0]

    def count_outbox_pending(self: Any) -> int:
        """Pending entries, counted on their partial index."""
        return self._one(self.q._p(f"SELECT COUNT(*) FROM romancy_outbox WHERE status = '{PENDING}'"))[0]

    def claim_outbox(self: Any, owner: str, now: float, lease_until: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` due pending events to `owner`, earliest first; rows another worker
        is claiming are skipped, not waited for."""
        with self._write():
            seqs = [row[0] for row in self._run(
                self.q._p(_DUE + " ORDER BY next_attempt_at LIMIT ?" + self.CLAIM_SQL), (now, now, limit)).fetchall()]
            if not seqs:
                return []
            self._run(self.q._p(f"UPDATE romancy_outbox SET lease_owner = ?, lease_until = ? "
                                f"WHERE event_seq IN ({_marks(len(seqs))})"), (owner, lease_until, *seqs))
            return self._items(f" WHERE o.event_seq IN ({_marks(len(seqs))}) ORDER BY o.next_attempt_at", seqs)

    def record_attempt(self: Any, event_seq: int, owner: str, attempt: Attempt) -> bool:
        """Count an attempt of `owner`'s and end its lease; False when the lease was no longer its."""
        with self._write():
            cursor = self._run(self.q._p(
                "UPDATE romancy_outbox SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
                f"lease_owner = NULL, lease_until = NULL WHERE event_seq = ? AND status = '{PENDING}' "
                "AND lease_owner = ?"), (attempt.status, attempt.error, attempt.next_attempt_at, event_seq, owner))
            return cursor.rowcount == 1

    def release_outbox(self: Any, event_seqs: Sequence[int], owner: str) -> None:
        """Give back leases not attempted (a relay stopping), for any worker to take at once."""
        if event_seqs:
            with self._write():
                self._run(self.q._p(f"UPDATE romancy_outbox SET lease_owner = NULL, lease_until = NULL "
                                    f"WHERE event_seq IN ({_marks(len(event_seqs))}) AND lease_owner = ?"),
                          (*event_seqs, owner))

    def list_outbox(self: Any, status: Optional[str], limit: Optional[int]) -> list[OutboxItem]:
        """Outbox entries oldest first, of one status or all."""
        where, params = (" WHERE o.status = ?", [status]) if status else ("", [])
        if limit is not None:
            return self._items(where + " ORDER BY o.event_seq LIMIT ?", [*params, limit])
        return self._items(where + " ORDER BY o.event_seq", params)

    def requeue_outbox(self: Any, event_id: str, now: float) -> int:
        """Make the failed entries of events with this id pending again, with all their attempts
        ahead; returns how many. NotFoundError when no entry has that event id, RomancyError when
        none of them is failed."""
        with self._write():
            rows = self._run(self.q._p("SELECT o.event_seq, o.status FROM romancy_outbox o JOIN romancy_events e "
                                       "ON e.seq = o.event_seq WHERE e.event_id = ?" + self.LOCK_SQL),
                             (event_id,)).fetchall()
            if not rows:
                raise NotFoundError(f"no event {event_id!r} in the outbox; `romancy outbox` lists them")
            failed = [seq for seq, status in rows if status == FAILED]
            if not failed:
                raise RomancyError(f"event {event_id} is {rows[0][1]} in the outbox, not failed; nothing to retry")
            self._run(self.q._p(f"UPDATE romancy_outbox SET status = ?, attempts = 0, next_attempt_at = ? "
                                f"WHERE event_seq IN ({_marks(len(failed))})"), (PENDING, now, *failed))
        return len(failed)

    def _items(self: Any, tail: str, params: Sequence[Any]) -> list[OutboxItem]:
        rows = self._run(self.q._p(_ITEMS + tail), params).fetchall()
        return [OutboxItem(self._event(row[:11]), *row[11:]) for row in rows]

"""The store's queries for cleaning up and trying again: who waits for an event type (near
misses), retry of a failed instance, and prune. None of them is on the path of a start, a
delivery or a timer. Listing is in listing.py."""

from __future__ import annotations

import json
import time
from typing import Optional

from ..codec import dumps
from ..errors import NotFoundError, RomancyError
from ..records import (FAILED, PENDING, RETRIED, RUNNING, UNPLACED, WAITING_FOR_EVENT, WAITING_FOR_TIMER, Instance,
                       PruneResult, Step)
from .listing import ENDED_SQL, marks
from .queries import CLEAR_WAIT, INSTANCE_COLUMNS

LIVE = (RUNNING, WAITING_FOR_EVENT, WAITING_FOR_TIMER)
CLOCK_KEY = "clock_offset"  # romancy_meta: seconds the CLI's virtual clock is ahead of the real one
_ALL_EVENTS = 2**62  # an event floor after every event: no live instance may take any


class Upkeep:
    """Mixed into SqlStore, whose _run, _one, _write, _p helpers and conversions it uses."""

    def waiting_for_type(self, event_type: str, limit: int) -> list[Instance]:
        """Instances waiting for an event of this type (through the partial index of waits)."""
        sql = (f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE wait_event_type = ? AND status = ? "
               "ORDER BY created_at LIMIT ?")
        rows = self._run(self.q._p(sql), (event_type, WAITING_FOR_EVENT, limit)).fetchall()
        return [self._instance(row) for row in rows]

    def waited_types(self, limit: int) -> list[str]:
        """Event types that waiting instances wait for, the extra types of waits on several too."""
        sql = ("SELECT wait_event_type FROM romancy_instances WHERE status = ? AND wait_event_type IS NOT NULL "
               "UNION SELECT w.event_type FROM romancy_wait_types w JOIN romancy_instances i "
               "ON i.instance_id = w.instance_id AND i.wait_seq = w.wait_seq AND i.status = ? "
               "ORDER BY 1 LIMIT ?")
        return [row[0] for row in self._run(self.q._p(sql), (WAITING_FOR_EVENT, WAITING_FOR_EVENT, limit))]

    # -- the virtual clock: an offset in romancy_meta, no schema change ----------------

    def clock_offset(self) -> float:
        row = self._one(self.q._p("SELECT value FROM romancy_meta WHERE key = ?"), (CLOCK_KEY,))
        return float(row[0]) if row is not None else 0.0

    def move_clock(self, by: float) -> float:
        with self._write():
            offset = self.clock_offset() + by
            self._run(self.q._p("DELETE FROM romancy_meta WHERE key = ?"), (CLOCK_KEY,))
            if offset:
                self._run(self.q._p("INSERT INTO romancy_meta (key, value) VALUES (?, ?)"), (CLOCK_KEY, repr(offset)))
        return offset

    # -- retry -------------------------------------------------------------------

    def shown_history(self, instance_id: str) -> list[Step]:
        """History with the attempts kept beside it (failed ones, kind `attempt`, and retried
        ones) in place: at the step they belong to, just before it, oldest first."""
        steps = [Step(*row[:3], json.loads(row[3]))
                 for row in self._run(self.q.all_steps, (instance_id,)).fetchall()]
        # Negative seqs are placed downwards as attempts happen: the older one has the larger seq.
        ordered = sorted(steps, key=lambda s: (s.result["step"], 0, -s.seq) if s.seq < 0 else (s.seq, 1, 0))
        return [Step(s.result["step"], s.kind, s.name, s.result) if s.seq < 0 else s for s in ordered]

    def reopen(self, instance_id: str, failed_seq: Optional[int], now: float) -> None:
        """Make a failed instance running again, in one transaction: its failed attempt (the step
        at `failed_seq`, else the instance's error) is kept as a `retried` step at a negative
        seq, which replay does not read, so the step at `failed_seq` runs again."""
        with self._write():
            instance = self._failed(instance_id)
            name, error, at = "workflow", instance.error, failed_seq
            if failed_seq is not None:
                row = self._one(self.q._p("SELECT name, result FROM romancy_steps WHERE instance_id = ? AND seq = ?"),
                                (instance_id, failed_seq))
                name, error = row[0], json.loads(row[1]).get("error")
                self._run(self.q._p("DELETE FROM romancy_steps WHERE instance_id = ? AND seq = ?"),
                          (instance_id, failed_seq))
            else:
                at = self._one(self.q._p("SELECT COALESCE(MAX(seq), -1) + 1 FROM romancy_steps WHERE instance_id = ?"),
                               (instance_id,))[0]
            marker = Step(UNPLACED, RETRIED, name, {"step": at, "error": error, "retried_at": now})
            self._insert_steps([(instance_id, s.seq, s.kind, s.name, dumps(s.result))
                                for s in self._placed(instance_id, [marker])])
            self._run(self.q._p(
                "UPDATE romancy_instances SET status = ?, output = NULL, error = NULL, updated_at = ?, "
                f"wake_at = NULL, lease_owner = NULL, lease_until = NULL, parked = ?{CLEAR_WAIT} "
                "WHERE instance_id = ?"), (RUNNING, now, False, instance_id))

    def _failed(self, instance_id: str) -> Instance:
        row = self._one(self.q.lock_instance, (instance_id,))
        if row is None:
            raise NotFoundError(f"no instance {instance_id!r}; `romancy status` lists instances")
        instance = self._instance(row)
        if instance.status != FAILED:
            raise RomancyError(f"instance {instance_id} is {instance.status}, not failed: only a failed "
                               "instance can be retried (`romancy status --status failed` lists them)")
        return instance

    # -- prune -------------------------------------------------------------------

    def prune(self, ended_before: Optional[float], events_before: Optional[float], dry_run: bool,
              batch: int = 500) -> PruneResult:
        """Delete ended instances (with their steps) last updated before `ended_before`, and events
        received before `events_before` that no live instance may still take, `batch` rows per
        transaction so that no write lock is held long; `dry_run` only counts."""
        if dry_run:
            return self._prune_counts(ended_before, events_before)
        instances = steps = events = transactions = 0
        longest = 0.0
        while ended_before is not None:
            started = time.perf_counter()
            removed, removed_steps = self._prune_instances(ended_before, batch)
            longest, transactions = max(longest, time.perf_counter() - started), transactions + 1
            instances, steps = instances + removed, steps + removed_steps
            if removed < batch:
                break
        cursor = 0
        while events_before is not None:
            started = time.perf_counter()
            removed, cursor = self._prune_events(events_before, cursor, batch)
            longest, transactions = max(longest, time.perf_counter() - started), transactions + 1
            events += removed
            if removed < batch:
                break
        return PruneResult(instances, steps, events, transactions, longest)

    def _prune_instances(self, before: float, batch: int) -> tuple[int, int]:
        with self._write():
            ids = [row[0] for row in self._run(self.q._p(
                f"SELECT instance_id FROM romancy_instances WHERE {ENDED_SQL} "
                "AND updated_at < ? LIMIT ?"), (before, batch)).fetchall()]
            if not ids:
                return 0, 0
            listed = marks(len(ids))
            steps = self._run(self.q._p(f"DELETE FROM romancy_steps WHERE instance_id IN ({listed})"), ids).rowcount
            self._run(self.q._p(f"DELETE FROM romancy_instances WHERE instance_id IN ({listed})"), ids)
        return len(ids), steps

    def _prunable_events(self) -> str:
        """Events received before the cutoff that were consumed, or that no live instance can take
        (their seq is at most every live instance's event floor), and that the relay is done with."""
        return (f"received_at < ? AND (seq <= ? OR EXISTS ({self._consumer_of('romancy_events.seq')})) "
                f"AND NOT EXISTS (SELECT 1 FROM romancy_outbox WHERE event_seq = romancy_events.seq "
                f"AND status = '{PENDING}')")

    def _live_floor(self) -> int:
        floor = self._one(self.q._p(f"SELECT MIN(event_floor) FROM romancy_instances "
                                    f"WHERE status IN ({marks(len(LIVE))})"), LIVE)[0]
        return _ALL_EVENTS if floor is None else int(floor)

    def _prune_events(self, before: float, cursor: int, batch: int) -> tuple[int, int]:
        with self._write():
            seqs = [row[0] for row in self._run(self.q._p(
                f"SELECT seq FROM romancy_events WHERE seq > ? AND {self._prunable_events()} ORDER BY seq LIMIT ?"),
                (cursor, before, self._live_floor(), batch)).fetchall()]
            if seqs:
                self._run(self.q._p(f"DELETE FROM romancy_outbox WHERE event_seq IN ({marks(len(seqs))})"), seqs)
                self._run(self.q._p(f"DELETE FROM romancy_events WHERE seq IN ({marks(len(seqs))})"), seqs)
        return len(seqs), (seqs[-1] if seqs else cursor)

    def _prune_counts(self, ended_before: Optional[float], events_before: Optional[float]) -> PruneResult:
        instances = steps = events = 0
        if ended_before is not None:
            ended = f"SELECT instance_id FROM romancy_instances WHERE {ENDED_SQL} AND updated_at < ?"
            instances = self._one(self.q._p(f"SELECT COUNT(*) FROM ({ended}) AS ended"), (ended_before,))[0]
            steps = self._one(self.q._p(f"SELECT COUNT(*) FROM romancy_steps WHERE instance_id IN ({ended})"),
                              (ended_before,))[0]
        if events_before is not None:
            events = self._one(self.q._p(f"SELECT COUNT(*) FROM romancy_events WHERE {self._prunable_events()}"),
                               (events_before, self._live_floor()))[0]
        return PruneResult(instances, steps, events)

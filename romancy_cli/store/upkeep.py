"""The store's queries for cleaning up and trying again: who waits for an event type (near
misses), retry of a failed instance, and prune. None of them is on the path of a start, a
delivery or a timer. Listing is in listing.py."""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from typing import Callable, Optional, TypeVar

from ..codec import dumps
from ..errors import NotFoundError, RomancyError
from ..records import FAILED, PENDING, RETRIED, RUNNING, UNPLACED, WAITING_FOR_EVENT, Instance, PruneResult, Step
from .listing import marks
from .models import ENDED_SQL, RELEASED_SQL
from .queries import CLEAR_WAIT, INSTANCE_COLUMNS

CLOCK_KEY = "clock_offset"  # romancy_meta: seconds the CLI's virtual clock is ahead of the real one
T = TypeVar("T")
_ALL_EVENTS = 2**62  # an event floor after every event: no instance may take any
_COUNT_BATCH = 5000  # events a dry run judges per statement


class _Timed:
    """Runs prune's write transactions, counting them and keeping the longest one's seconds."""

    def __init__(self) -> None:
        self.count, self.longest = 0, 0.0

    def __call__(self, transaction: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return transaction()
        finally:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - started)


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
              progress: Optional[Callable[[int], None]] = None, batch: int = 500) -> PruneResult:
        """Delete ended instances (with their steps) last updated before `ended_before`, and events
        received before `events_before` that no instance holding events (live or failed) may
        still take, `batch` rows per transaction so that no write lock is held long; `dry_run`
        only counts."""
        if dry_run:
            return self._prune_counts(ended_before, events_before)
        timed = _Timed()
        events = instances = steps = 0
        # Events first: those consumed by the instances deleted next are deleted while their
        # consumers' steps still say so, and are not rewritten to remember those consumers.
        if events_before is not None:
            events = self._prune_all_events(events_before, batch, timed, progress)
        if ended_before is not None:
            instances, steps = self._prune_all_instances(ended_before, batch, timed, progress)
        return PruneResult(instances, steps, events, timed.count, timed.longest)

    def _prune_all_events(self, before: float, batch: int, timed: _Timed,
                          progress: Optional[Callable[[int], None]]) -> int:
        horizon = timed(self._event_horizon)
        events, selected, cursor = 0, batch, 0
        while selected == batch:
            selected, removed, cursor = timed(lambda: self._prune_events(before, horizon, cursor, batch))
            events += removed
            if progress is not None:
                progress(removed)
        return events

    def _prune_all_instances(self, before: float, batch: int, timed: _Timed,
                             progress: Optional[Callable[[int], None]]) -> tuple[int, int]:
        instances, steps, removed = 0, 0, batch
        while removed == batch:
            removed, removed_steps = timed(lambda: self._prune_instances(before, batch))
            instances, steps = instances + removed, steps + removed_steps
            if progress is not None:
                progress(removed)
        return instances, steps

    def _prune_instances(self, before: float, batch: int) -> tuple[int, int]:
        with self._write():
            ids = [row[0] for row in self._run(self.q._p(
                f"SELECT instance_id FROM romancy_instances WHERE {ENDED_SQL} "
                "AND updated_at < ? LIMIT ?"), (before, batch)).fetchall()]
            if not ids:
                return 0, 0
            listed = marks(len(ids))
            self._remember_consumers(ids)
            steps = self._run(self.q._p(f"DELETE FROM romancy_steps WHERE instance_id IN ({listed})"), ids).rowcount
            self._run(self.q._p(f"DELETE FROM romancy_instances WHERE instance_id IN ({listed})"), ids)
        return len(ids), steps

    def _remember_consumers(self, ids: list[str]) -> None:
        """The events these instances' event steps took keep them as consumers (consumed_by), in
        the transaction that deletes those steps: an event once consumed stays consumed."""
        consumers = self._consumers_in(ids)
        if not consumers:
            return
        seqs = sorted(consumers)
        merged = [(seq, dumps(sorted(consumers[seq].union(json.loads(known) if known else ()))))
                  for seq, known in self._run(self.q._p(
                      f"SELECT seq, consumed_by FROM romancy_events WHERE seq IN ({marks(len(seqs))}) ORDER BY seq")
                      + self.q.lock, seqs).fetchall()]  # PostgreSQL: locked, another prune's consumers are kept
        if merged:  # one statement for the batch, not one per event: prune's time is its statements
            cases = " ".join(["WHEN ? THEN ?"] * len(merged))
            self._run(self.q._p(f"UPDATE romancy_events SET consumed_by = CASE seq {cases} END "
                                f"WHERE seq IN ({marks(len(merged))})"),
                      [value for pair in merged for value in pair] + [seq for seq, _ in merged])

    def _consumers_in(self, ids: list[str]) -> dict[int, set[str]]:
        """The seqs of the events these instances took, each with the ones of them that took it."""
        consumers: dict[int, set[str]] = {}
        for seq, instance_id in self._run(self.q._p(
                f"SELECT {self.q.step_event_seq}, instance_id FROM romancy_steps WHERE kind = 'event' "
                f"AND instance_id IN ({marks(len(ids))})"), ids).fetchall():
            if seq is not None:  # a timeout took no event
                consumers.setdefault(int(seq), set()).add(instance_id)
        return consumers

    def _event_horizon(self) -> "_Horizon":
        """The newest event's seq and the event floors below it of the instances that hold
        events (live or failed), read in one transaction once the events being stored have
        committed (PostgreSQL: the event-floor lock; SQLite: writes are serial). Prune judges only
        events up to that newest one, against those floors, in all its batches. An instance
        inserted later has its own event after it (deliver-or-start, start_on), or read its floor
        later as the newest seq stored then, so it takes none of the events still stored up to it
        (numbers only grow); a continue_as_new successor takes the place of its predecessor, read
        here, which held every event the successor may take. A start that read its floor before
        this and commits after is the one case not covered."""
        with self._write():
            self._lock_event_floor()
            newest = int(self._one(self.q._p("SELECT MAX(seq) FROM romancy_events"))[0] or 0)
            floors = [int(row[0]) for row in self._run(self.q._p(
                f"SELECT event_floor FROM romancy_instances WHERE NOT ({RELEASED_SQL}) AND event_floor < ? "
                "ORDER BY event_floor"), (newest,)).fetchall()]
        return _Horizon(newest, floors)

    def _prunable_events(self) -> str:
        """Events up to the newest seq of the horizon, received before the cutoff, that no instance
        can take (their seq is at most every holder's floor) or that were consumed (maybe by
        every holder that can: _deletable says), and that the relay is done with. Parameters:
        newest, cutoff, floor."""
        return (f"seq <= ? AND received_at < ? AND (seq <= ? OR {self._consumed('romancy_events')}) "
                f"AND NOT EXISTS (SELECT 1 FROM romancy_outbox WHERE event_seq = romancy_events.seq "
                f"AND status = '{PENDING}')")

    def _judge_events(self, before: float, horizon: "_Horizon", cursor: int, batch: int) -> tuple[list[int], list[int]]:
        """The next `batch` candidate events after `cursor`, and those of them prune may delete."""
        seqs = [row[0] for row in self._run(self.q._p(
            f"SELECT seq FROM romancy_events WHERE seq > ? AND {self._prunable_events()} ORDER BY seq LIMIT ?"),
            (cursor, horizon.newest, before, horizon.floor, batch)).fetchall()]
        return seqs, self._deletable(seqs, horizon)

    def _deletable(self, seqs: list[int], horizon: "_Horizon") -> list[int]:
        """Of these candidates, the events every instance that may still take them took already:
        the holders whose floor is below the event, counted at the horizon, are as many as those
        of its takers that still hold events now (an instance that ended since is neither; a
        successor replaces its predecessor), so no holder is left that has not taken it."""
        held = [seq for seq in seqs if seq > horizon.floor]
        if not held:  # the common case of prune after ended instances: one statement per batch
            return seqs
        seq_sql = self.q.step_event_seq
        takers = dict(self._run(self.q._p(
            f"SELECT {seq_sql}, COUNT(DISTINCT s.instance_id) FROM romancy_steps s JOIN romancy_instances i "
            f"ON i.instance_id = s.instance_id WHERE s.kind = 'event' AND {seq_sql} IN ({marks(len(held))}) "
            f"AND NOT (i.{RELEASED_SQL}) AND i.event_floor < {seq_sql} GROUP BY {seq_sql}"), held).fetchall())
        return [seq for seq in seqs if seq <= horizon.floor or takers.get(seq, 0) >= horizon.holders(seq)]

    def _prune_events(self, before: float, horizon: "_Horizon", cursor: int, batch: int) -> tuple[int, int, int]:
        """One batch: how many candidates it judged, how many it deleted, and the cursor after them."""
        with self._write():
            seqs, doomed = self._judge_events(before, horizon, cursor, batch)
            if doomed:
                self._run(self.q._p(f"DELETE FROM romancy_outbox WHERE event_seq IN ({marks(len(doomed))})"), doomed)
                self._run(self.q._p(f"DELETE FROM romancy_events WHERE seq IN ({marks(len(doomed))})"), doomed)
        return len(seqs), len(doomed), (seqs[-1] if seqs else cursor)

    def _prune_counts(self, ended_before: Optional[float], events_before: Optional[float]) -> PruneResult:
        instances = steps = events = 0
        if ended_before is not None:
            ended = f"SELECT instance_id FROM romancy_instances WHERE {ENDED_SQL} AND updated_at < ?"
            instances = self._one(self.q._p(f"SELECT COUNT(*) FROM ({ended}) AS ended"), (ended_before,))[0]
            steps = self._one(self.q._p(f"SELECT COUNT(*) FROM romancy_steps WHERE instance_id IN ({ended})"),
                              (ended_before,))[0]
        if events_before is not None:
            horizon, cursor, seqs = self._event_horizon(), 0, [0] * _COUNT_BATCH
            while len(seqs) == _COUNT_BATCH:
                seqs, doomed = self._judge_events(events_before, horizon, cursor, _COUNT_BATCH)
                events, cursor = events + len(doomed), (seqs[-1] if seqs else cursor)
        return PruneResult(instances, steps, events)


class _Horizon:
    """What prune judges events against: the newest event's seq, and the sorted event floors
    below it of the instances holding events."""

    def __init__(self, newest: int, floors: list[int]) -> None:
        self.newest, self.floors = newest, floors
        self.floor = floors[0] if floors else _ALL_EVENTS  # events up to it no instance may take

    def holders(self, seq: int) -> int:
        """How many of those instances may take the event `seq` (their floor is below it)."""
        return bisect_left(self.floors, seq)

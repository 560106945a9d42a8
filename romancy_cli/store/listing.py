"""The store's reads for looking back: keyset pages of instances and of the event log (with who
consumed each event), and instances per status. `status`, `events`, GET /instances, GET /events
and the web page all read through here.

Pages are keyset pages, never OFFSET: instances newest first on (created_at, instance_id), which
the index romancy_instances_created covers, events newest first on seq."""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from ..records import PARKED, RUNNING, Instance, LoggedEvent
from .models import ENDED, ENDED_SQL
from .queries import EVENT_COLUMNS, INSTANCE_COLUMNS


def marks(count: int) -> str:
    return ", ".join(["?"] * count)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _status_filter(status: Optional[str]) -> tuple[list[str], list[Any]]:
    if status in ENDED:  # one of a fixed set: written as a literal, for the index of ended ones
        return [ENDED_SQL, f"status = '{status}'"], []
    if status in (RUNNING, PARKED):  # `parked` is shown for running + parked; `running` is not parked
        return [f"parked = {'TRUE' if status == PARKED else 'FALSE'}", "status = ?"], [RUNNING]
    if status is not None:
        return ["status = ?"], [status]
    return [], []


def _search_filter(search: Optional[str]) -> tuple[list[str], list[Any]]:
    """An id prefix, or text anywhere in the stored input JSON (a scan: fine for browsing)."""
    if not search:
        return [], []
    text = _like_escape(search)
    return (["(instance_id LIKE ? ESCAPE '\\' OR args LIKE ? ESCAPE '\\' OR kwargs LIKE ? ESCAPE '\\')"],
            [text + "%", f"%{text}%", f"%{text}%"])


class Listing:
    """Mixed into SqlStore, whose _run, q and conversions it uses."""

    def list_instances(self, status: Optional[str] = None, workflow: Optional[str] = None,
                       limit: Optional[int] = None, after: Optional[tuple[float, str]] = None,
                       search: Optional[str] = None) -> list[Instance]:
        """Instances newest first (created_at, then id), after the cursor `after` when given."""
        where, params = _status_filter(status)
        if workflow is not None:
            where.append("workflow = ?")
            params.append(workflow)
        found, more = _search_filter(search)
        where, params = where + found, params + more
        if after is not None:
            where.append("(created_at < ? OR (created_at = ? AND instance_id < ?))")
            params += [after[0], after[0], after[1]]
        sql = (f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE {' AND '.join(where or ['1 = 1'])} "
               "ORDER BY created_at DESC, instance_id DESC")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._instance(row) for row in self._run(self.q._p(sql), params).fetchall()]  # type: ignore[attr-defined]

    def ids_starting_with(self, prefixes: Sequence[str], limit: int) -> list[str]:
        """Instance ids that start with any of `prefixes` (one scan, for typed prefixes and the
        short ids of a table), sorted."""
        if not prefixes:
            return []
        where = " OR ".join(["instance_id LIKE ? ESCAPE '\\'"] * len(prefixes))
        sql = f"SELECT instance_id FROM romancy_instances WHERE {where} ORDER BY instance_id LIMIT ?"
        params = [_like_escape(prefix) + "%" for prefix in prefixes] + [limit]
        return [row[0] for row in self._run(self.q._p(sql), params).fetchall()]  # type: ignore[attr-defined]

    def count_instances(self, workflow: Optional[str]) -> dict[str, int]:
        """Instances per status (parked ones under "parked"), of one workflow or all."""
        sql = "SELECT status, parked, COUNT(*) FROM romancy_instances"
        params: tuple[Any, ...] = ()
        if workflow:
            sql, params = sql + " WHERE workflow = ?", (workflow,)
        counts: dict[str, int] = {}
        for status, parked, count in self._run(self.q._p(sql + " GROUP BY status, parked"), params):  # type: ignore[attr-defined]
            key = PARKED if parked else status
            counts[key] = counts.get(key, 0) + count
        return counts

    def count_by_workflow(self) -> dict[tuple[str, str], int]:
        """Instances per (workflow, status), parked ones under "parked"."""
        counts: dict[tuple[str, str], int] = {}
        sql = "SELECT workflow, status, parked, COUNT(*) FROM romancy_instances GROUP BY workflow, status, parked"
        for workflow, status, parked, count in self._run(self.q._p(sql)):  # type: ignore[attr-defined]
            key = (workflow, PARKED if parked else status)
            counts[key] = counts.get(key, 0) + count
        return counts

    def list_events(self, event_type: Optional[str], since: Optional[float], unconsumed: bool,
                    limit: Optional[int], before: Optional[int] = None) -> list[LoggedEvent]:
        """Stored events newest first, seq below `before` when given, each with its consumers."""
        where, params = ["1 = 1"], []
        for condition, value in (("type = ?", event_type), ("received_at >= ?", since), ("seq < ?", before)):
            if value is not None:
                where.append(condition)
                params.append(value)
        if unconsumed:
            where.append(f"NOT {self._consumed('romancy_events')}")
        sql = f"SELECT {EVENT_COLUMNS}, consumed_by FROM romancy_events WHERE {' AND '.join(where)} ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._with_consumers(self._run(self.q._p(sql), params).fetchall())  # type: ignore[attr-defined]

    def events_after(self, event_type: str, floor: int, limit: int) -> list[LoggedEvent]:
        """The newest `limit` events of a type received after seq `floor`, with their consumers."""
        sql = (f"SELECT {EVENT_COLUMNS}, consumed_by FROM romancy_events WHERE type = ? AND seq > ? "
               "ORDER BY seq DESC LIMIT ?")
        return self._with_consumers(self._run(self.q._p(sql), (event_type, floor, limit)).fetchall())  # type: ignore[attr-defined]

    def _consumed(self, table: str) -> str:
        """Whether the event of this row of romancy_events was consumed: by an instance still
        stored (its event step, found through romancy_steps_event_seq) or by a pruned one."""
        # `+seq`: without the column's affinity, SQLite looks the index on the expression up
        # (SEARCH) instead of scanning it for every event.
        steps = (f"SELECT 1 FROM romancy_steps WHERE kind = 'event' "
                 f"AND {self.q.step_event_seq} = +{table}.seq")  # type: ignore[attr-defined]
        return f"({table}.consumed_by IS NOT NULL OR EXISTS ({steps}))"

    def _with_consumers(self, rows: Sequence[Any]) -> list[LoggedEvent]:
        """Rows of EVENT_COLUMNS + consumed_by, each with its consumers: stored and pruned ones."""
        if not rows:
            return []
        events = [self._event(row[:-1]) for row in rows]  # type: ignore[attr-defined]
        consumers: dict[int, set[str]] = {e.seq: set(json.loads(row[-1]) if row[-1] else ())
                                          for e, row in zip(events, rows)}
        sql = (f"SELECT {self.q.step_event_seq}, instance_id FROM romancy_steps WHERE kind = 'event' "  # type: ignore[attr-defined]
               f"AND {self.q.step_event_seq} IN ({marks(len(events))})")  # type: ignore[attr-defined]
        for seq, instance_id in self._run(self.q._p(sql), [e.seq for e in events]).fetchall():  # type: ignore[attr-defined]
            consumers[int(seq)].add(instance_id)
        return [LoggedEvent(e, tuple(sorted(consumers[e.seq]))) for e in events]

"""Read queries for browsing (the web page): keyset pages of instances and events, status counts.

Pages are keyset pages, never OFFSET: instances newest first on (created_at, instance_id), which
the index romancy_instances_created covers (schema version 3), events on seq."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..records import RUNNING, Instance, StoredEvent
from .queries import EVENT_COLUMNS, INSTANCE_COLUMNS

PARKED = "parked"  # a pseudo-status: running instances stopped by a NonDeterminismError
InstanceKey = tuple[float, str]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _instance_filters(status: Optional[str], workflow: Optional[str],
                      search: Optional[str]) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if status == PARKED:
        where.append("status = ? AND parked = ?")
        params += [RUNNING, True]
    elif status:
        where.append("status = ? AND parked = ?")
        params += [status, False]
    if workflow:
        where.append("workflow = ?")
        params.append(workflow)
    if search:
        # An id prefix, or text anywhere in the stored input JSON (a scan: fine for a dev loop).
        text = _like_escape(search)
        where.append("(instance_id LIKE ? ESCAPE '\\' OR args LIKE ? ESCAPE '\\' OR kwargs LIKE ? ESCAPE '\\')")
        params += [text + "%", f"%{text}%", f"%{text}%"]
    return where, params


def _event_consumer(head: str) -> Optional[int]:
    """The event seq an event step's stored result starts with: `{"seq":12,...}` (codec.dumps
    writes compact JSON in StoredEvent.to_plain's key order); None for a timeout."""
    if not head.startswith('{"seq":'):
        return None
    end = head.find(",", 7)
    digits = head[7:end] if end > 0 else ""
    return int(digits) if digits.isdigit() else None


class Listing:
    """Mixed into SqlStore, whose _run, _instance, _event and db it uses."""

    def list_instances_page(self, status: Optional[str], workflow: Optional[str], search: Optional[str],
                            limit: int, after: Optional[InstanceKey]) -> tuple[list[Instance], Optional[InstanceKey]]:
        """Up to `limit` instances older than `after`, newest first, and the key of the next page."""
        where, params = _instance_filters(status, workflow, search)
        if after is not None:
            where.append("(created_at < ? OR (created_at = ? AND instance_id < ?))")
            params += [after[0], after[0], after[1]]
        sql = (f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY created_at DESC, instance_id DESC LIMIT ?")
        rows = self._run(self._sql(sql), (*params, limit + 1)).fetchall()  # type: ignore[attr-defined]
        instances = [self._instance(row) for row in rows[:limit]]  # type: ignore[attr-defined]
        last = instances[-1] if len(rows) > limit else None
        return instances, (last.created_at, last.instance_id) if last else None

    def count_instances(self, workflow: Optional[str]) -> dict[str, int]:
        """Instances per status (parked ones under "parked"), of one workflow or all."""
        sql = "SELECT status, parked, COUNT(*) FROM romancy_instances"
        params: tuple[Any, ...] = ()
        if workflow:
            sql, params = sql + " WHERE workflow = ?", (workflow,)
        counts: dict[str, int] = {}
        for status, parked, count in self._run(self._sql(sql + " GROUP BY status, parked"), params):  # type: ignore[attr-defined]
            key = PARKED if parked else status
            counts[key] = counts.get(key, 0) + count
        return counts

    def event_page(self, type: Optional[str], limit: int,
                    after: Optional[int]) -> tuple[list[tuple[StoredEvent, tuple[str, ...]]], Optional[int]]:
        """Stored events newest first (seq below `after`), each with the instances it resumed."""
        where, params = [], []
        if type:
            where.append("type = ?")
            params.append(type)
        if after is not None:
            where.append("seq < ?")
            params.append(after)
        sql = (f"SELECT {EVENT_COLUMNS} FROM romancy_events" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY seq DESC LIMIT ?")
        rows = self._run(self._sql(sql), (*params, limit + 1)).fetchall()  # type: ignore[attr-defined]
        events = [self._event(row) for row in rows[:limit]]  # type: ignore[attr-defined]
        consumers = self._consumers(events)
        page = [(event, tuple(consumers.get(event.seq, ()))) for event in events]
        return page, events[-1].seq if len(rows) > limit else None

    def _consumers(self, events: Sequence[StoredEvent]) -> dict[int, list[str]]:
        """Which instances recorded each event in their history. Steps are keyed by instance,
        so this reads the event steps of the page's types (a scan: the page is for a dev loop)."""
        if not events:
            return {}
        seqs = {event.seq for event in events}
        types = sorted({event.type for event in events})
        sql = ("SELECT instance_id, substr(result, 1, 32) FROM romancy_steps WHERE kind = 'event' "
               f"AND name IN ({', '.join('?' * len(types))})")
        found: dict[int, list[str]] = {}
        for instance_id, head in self._run(self._sql(sql), types):  # type: ignore[attr-defined]
            seq = _event_consumer(head)
            if seq in seqs:
                found.setdefault(seq, []).append(instance_id)  # type: ignore[arg-type]
        return found

    def _sql(self, sql: str) -> str:
        param = self.db.param  # type: ignore[attr-defined]
        return sql.replace("?", param) if param != "?" else sql

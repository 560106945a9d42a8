"""The store's SQL, written once. peewee builds the schema and runs these; compiling a peewee
query per call cost more than executing it (profile of `start`: 70% of the time in Query.sql()).

Placeholders are written `?` and turned into the driver's style by `Queries(param)`."""

from __future__ import annotations

from functools import lru_cache

from ..records import RUNNABLE

# Names the runnable index's own condition (models.py), so that the planners use it.
RUNNABLE_SQL = "status IN (" + ", ".join(f"'{s}'" for s in RUNNABLE) + ")"

INSTANCE_COLUMNS = (
    "instance_id, workflow, status, args, kwargs, created_at, updated_at, output, error, "
    "wait_kind, wait_seq, wait_event_type, wait_match, wake_at, wait_attempt, event_floor, parked, "
    "lease_owner, lease_until, wait_more_types, continued_from, continued_as, parent_id, parent_close, chain_id, wait_competing, queue, started_at, trace_context"
)
EVENT_COLUMNS = ("seq, type, source, event_id, received_at, data, subject, time, data_content_type, "
                 "data_schema, extensions")
STEP_COLUMNS = "instance_id, seq, kind, name, result"

# Columns a commit writes, in the order of sql.transition_values().
TRANSITION_COLUMNS = ("status", "updated_at", "parked", "output", "error", "wait_kind", "wait_seq",
                      "wait_event_type", "wait_match", "wait_match_keys", "wait_attempt", "wake_at",
                      "lease_owner", "lease_until", "wait_more_types", "wait_competing")
RUNNABLE_SET = ("status = ?, updated_at = ?, wake_at = NULL, lease_owner = ?, lease_until = ?")
CLEAR_WAIT = (", wait_kind = NULL, wait_seq = NULL, wait_event_type = NULL, wait_match = NULL, "
              "wait_match_keys = NULL, wait_attempt = 0, wait_more_types = NULL, wait_competing = NULL")


class Queries:
    """SQL text for one driver; `lock` / `claim` end a SELECT whose rows are updated next."""

    def __init__(self, param: str, lock: str = "", claim: str = "", step_event_seq: str = "",
                 step_event_key: str = "") -> None:
        self.param, self.lock, self.claim = param, lock, claim
        self.step_event_seq = step_event_seq  # SQL of an event step's event seq (models.event_seq_sql)
        p = self._p
        # A waiting instance never takes an event whose (source, id) it took before: sent again
        # after prune deleted it, it is stored anew. Its own event steps only, by the steps' key,
        # in the statement that finds the waits: no statement more. Parameters: source, id.
        untaken = ("NOT EXISTS (SELECT 1 FROM romancy_steps s WHERE s.instance_id = {}.instance_id "
                   f"AND s.kind = 'event' AND {step_event_key})")
        self.max_event_seq = "SELECT MAX(seq) FROM romancy_events"
        self.insert_instance = p(
            "INSERT INTO romancy_instances (instance_id, workflow, status, args, kwargs, created_at, "
            "updated_at, event_floor, lease_owner, lease_until, wait_attempt, parked, continued_from, parent_id, "
            "parent_close, chain_id, queue, started_at, trace_context) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)")
        self.insert_instance_if_new = self.insert_instance + " ON CONFLICT (instance_id) DO NOTHING"
        self.get_instance = p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE instance_id = ?")
        self.lock_instance = self.get_instance + lock
        # Replay reads seq >= 0: retried attempts are kept at negative seqs, shown, never replayed.
        self.history = p("SELECT seq, kind, name, result FROM romancy_steps WHERE instance_id = ? "
                         "AND seq >= 0 ORDER BY seq")
        self.lowest_seq = p("SELECT MIN(seq) FROM romancy_steps WHERE instance_id = ?")
        self.all_steps = p("SELECT seq, kind, name, result FROM romancy_steps WHERE instance_id = ? ORDER BY seq")
        self.apply = p(
            "UPDATE romancy_instances SET " + ", ".join(f"{c} = ?" for c in TRANSITION_COLUMNS)
            + f" WHERE instance_id = ? AND lease_owner = ? AND {RUNNABLE_SQL}")
        self.apply_delivered = p(
            "UPDATE romancy_instances SET " + ", ".join(f"{c} = ?" for c in TRANSITION_COLUMNS)
            + " WHERE instance_id = ? AND status = ? AND wait_seq = ?")
        # continue_as_new: the newest event a run consumed (its event steps, timeouts have no seq).
        self.last_consumed = p(f"SELECT MAX({step_event_seq}) FROM romancy_steps WHERE instance_id = ? "
                               "AND kind = 'event'")
        self.addressed_events = p(f"SELECT {EVENT_COLUMNS} FROM romancy_events WHERE type = ? AND seq > ? "
                                  "AND target = ? ORDER BY seq")
        # The results of the event steps that took an event (did a competing wait take it?).
        self.event_takers = p(f"SELECT result FROM romancy_steps WHERE kind = 'event' AND {step_event_seq} = ?")
        self.children = p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE parent_id = ? "
                          "ORDER BY created_at, instance_id")
        # A child started with an id that exists: attached to, unless another parent has it.
        self.attach_child = p("UPDATE romancy_instances SET parent_id = ?, parent_close = ?, chain_id = ? "
                              "WHERE instance_id = ? AND parent_id IS NULL")
        self.link_successor = p("UPDATE romancy_instances SET continued_as = ? WHERE instance_id = ?")
        self.event_seq = p("SELECT seq FROM romancy_events WHERE source = ? AND event_id = ?")
        self.insert_event = p(
            "INSERT INTO romancy_events (source, event_id, type, subject, time, data, data_content_type, "
            "data_schema, extensions, target, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, event_id) DO NOTHING RETURNING seq")
        waiting = "status = ? AND wait_event_type = ? AND event_floor < ?"
        # A targeted event: its instance by key, whichever of its wait's types the event has.
        self.waiting_target = p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE instance_id = ? "
                                "AND status = ? AND event_floor < ? AND " + untaken.format("romancy_instances") + lock)
        # deliver_and_run's read: the targeted instance, and whether the event is a duplicate.
        self.target_probe = p(f"SELECT {INSTANCE_COLUMNS}, EXISTS (SELECT 1 FROM romancy_events WHERE source = ? "
                              "AND event_id = ?) FROM romancy_instances WHERE instance_id = ? AND status = ? "
                              "AND event_floor < ? AND " + untaken.format("romancy_instances"))
        # Waits for several types, found by a type after their first (models.WaitTypeRow).
        self.waiting_more = p(
            f"SELECT {', '.join('i.' + c.strip() for c in INSTANCE_COLUMNS.split(','))} "
            "FROM romancy_wait_types w JOIN romancy_instances i ON i.instance_id = w.instance_id "
            "AND i.wait_seq = w.wait_seq WHERE i.status = ? AND w.event_type = ? AND i.event_floor < ? "
            "AND " + untaken.format("i"))
        self.waiting_more += lock
        self.insert_wait_type = p("INSERT INTO romancy_wait_types (instance_id, event_type, wait_seq) VALUES (?, ?, ?)")
        self.delete_wait_types = p("DELETE FROM romancy_wait_types WHERE instance_id = ?")
        self.match_keys = p(f"SELECT DISTINCT wait_match_keys FROM romancy_instances WHERE {waiting}")
        self.waiting_matched = p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE {waiting} AND "
                                 + untaken.format("romancy_instances") + " AND (")
        self.due = p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE status IN (?, ?) "
                     "AND wake_at <= ? ORDER BY wake_at LIMIT ?" + claim)
        self.any_due = p("SELECT 1 FROM romancy_instances WHERE status IN (?, ?) AND wake_at <= ? LIMIT 1")
        # The partial indexes (models.py) hold rows with a wake_at, and running ones: these
        # conditions say so, or the planners would not use them.
        self.next_wake = p("SELECT MIN(wake_at) FROM romancy_instances WHERE status IN (?, ?, ?) "
                           "AND wake_at IS NOT NULL")
        self.runnable = p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances WHERE {RUNNABLE_SQL} "
                          "ORDER BY updated_at LIMIT ?")
        self.take_lease = p(
            "UPDATE romancy_instances SET lease_owner = ?, lease_until = ? WHERE instance_id IN ("
            f"SELECT instance_id FROM romancy_instances WHERE instance_id = ? AND {RUNNABLE_SQL} AND "
            "(lease_owner IS NULL OR lease_until < ? OR lease_owner = ? OR lease_owner = ?) "
            "AND (parked = ? OR parked = ?)" + claim + ")")
        self.renew_lease = p("UPDATE romancy_instances SET lease_until = ? WHERE instance_id = ? "
                             f"AND lease_owner = ? AND {RUNNABLE_SQL}")
        self.cancel = p("UPDATE romancy_instances SET status = ?, error = ?, updated_at = ?, wake_at = NULL, "
                        "lease_owner = NULL, lease_until = NULL, parked = ? WHERE instance_id = ?")

    def _p(self, sql: str) -> str:
        return sql.replace("?", self.param) if self.param != "?" else sql

    @lru_cache(maxsize=256)  # built once per shape, not per statement
    def insert_steps(self, count: int) -> str:
        return self._p(f"INSERT INTO romancy_steps ({STEP_COLUMNS}) VALUES "
                       + ", ".join(["(?, ?, ?, ?, ?)"] * count))

    @lru_cache(maxsize=256)
    def find_events(self, types: int) -> str:
        """Events of any of `types` types after a floor, for one instance, oldest first."""
        return self._p(f"SELECT {EVENT_COLUMNS} FROM romancy_events WHERE type IN ({', '.join(['?'] * types)}) "
                       "AND seq > ? AND (target IS NULL OR target = ?) ORDER BY seq")

    @lru_cache(maxsize=256)
    def make_runnable(self, count: int, clear_wait: bool) -> str:
        return self._p(f"UPDATE romancy_instances SET {RUNNABLE_SET}{CLEAR_WAIT if clear_wait else ''} "
                       f"WHERE instance_id IN ({', '.join(['?'] * count)})")

    @lru_cache(maxsize=256)
    def instances_in(self, count: int) -> str:
        return self._p(f"SELECT {INSTANCE_COLUMNS} FROM romancy_instances "
                       f"WHERE instance_id IN ({', '.join(['?'] * count)})")

    @lru_cache(maxsize=256)
    def histories_in(self, count: int) -> str:
        return self._p(f"SELECT {STEP_COLUMNS} FROM romancy_steps "
                       f"WHERE instance_id IN ({', '.join(['?'] * count)}) AND seq >= 0 ORDER BY instance_id, seq")

    @lru_cache(maxsize=256)
    def match_clause(self, has_null: bool, pairs: int) -> str:
        """Ends `waiting_matched`: broadcast waits and/or waits whose match index equals the event's."""
        parts = (["wait_match_keys IS NULL"] if has_null else []) + \
            ["(wait_match_keys = ? AND wait_match = ?)"] * pairs
        return self._p(" OR ".join(parts) + ")" + self.lock)

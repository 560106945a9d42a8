"""The outward relay: events workflows published with a target URL, sent as CloudEvents over HTTP
(encoded by the CloudEvents SDK, posted with urllib), retried with exponential backoff and jitter.

At-least-once: an entry is leased (App.claim_outbox) before it is sent and marked after, so a
crash in between sends it again, with the same source and id, once the lease ends. A request
never outlives its lease: one whose lease would end before its timeout is given back unsent."""

from __future__ import annotations

import http.client
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from . import sdk
from .app import App
from .config import OutboxSettings
from .errors import StorageFault
from .records import FAILED, PENDING, SENT, Attempt, OutboxItem

log = logging.getLogger("romancy.relay")

BATCH = 20  # entries leased per claim: one write transaction for up to 20 requests
POLL = 0.05  # seconds between looks for new entries while nothing is due (latency of a new event)
RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx: the receiver may take it later
LEASE_MARGIN = 1.0  # seconds a lease must outlast a request's timeout


def encode(item: OutboxItem, mode: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of the event in CloudEvents HTTP `mode` ("binary" or "structured")."""
    event = item.event
    # The time it was published, so that every attempt carries the same event (the SDK would
    # stamp each encoding with the current time otherwise).
    stamp = datetime.fromtimestamp(event.received_at, timezone.utc)
    cloudevent = sdk.to_cloudevent(event.type, event.source, event.id, event.data, time=stamp, subject=event.subject,
                                   data_content_type=event.data_content_type, extensions=event.extensions)
    return sdk.encode(cloudevent, mode)


def post(url: str, headers: dict[str, str], body: bytes, timeout: float) -> tuple[Optional[str], bool]:
    """POST once: (None, _) when the receiver took it (2xx), else (what went wrong, retry?)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return None, False
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code}", exc.code >= 500 or exc.code in RETRIED_STATUSES
    except urllib.error.URLError as exc:
        return f"connection error: {_reason(exc.reason)}", True
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, a garbled answer
        return f"connection error: {_reason(exc)}", True


def _reason(reason: Any) -> str:
    if isinstance(reason, socket.timeout) or isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def backoff(attempts: int, settings: OutboxSettings, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after `attempts` failed ones: first_retry doubled per
    attempt up to max_backoff, of which a random half is taken off ("equal jitter"), so that
    relays retrying a receiver that came back do not all hit it at once."""
    full = min(settings.max_backoff, settings.first_retry * 2 ** (attempts - 1))
    return full / 2 + full / 2 * rand()


def outcome(item: OutboxItem, error: Optional[str], retry: bool, settings: OutboxSettings, now: float) -> Attempt:
    """What this attempt makes of the entry: sent, failed, or pending until its next attempt."""
    if error is None:
        return Attempt(SENT)
    attempts = item.attempts + 1
    if not retry or attempts >= settings.max_attempts:
        return Attempt(FAILED, error)
    return Attempt(PENDING, error, now + backoff(attempts, settings))


class Relay:
    """Sends what is due, batch by batch. `run` loops until `stop` is set (serve's thread);
    `relay_due` sends what is due now (`romancy tick`)."""

    def __init__(self, app: App, settings: OutboxSettings) -> None:
        self.app, self.settings = app, settings
        # As long as the instances' leases (a crashed relay's entries are taken over once it
        # ends), and room for two requests at their timeout: the rest of a batch that does not
        # fit is given back and claimed again.
        self.lease = max(app.lease_seconds, 2 * (settings.timeout + LEASE_MARGIN))

    def relay_due(self, stop: Optional[threading.Event] = None) -> int:
        """Attempt every entry due now, once; returns how many attempts were made."""
        attempts = 0
        while not (stop is not None and stop.is_set()):
            items = self.app.claim_outbox(BATCH, self.lease)
            made = self._send_batch(items, time.monotonic() + self.lease, stop) if items else 0
            if not made:
                return attempts
            attempts += made
        return attempts

    def _send_batch(self, items: list[OutboxItem], lease_ends: float, stop: Optional[threading.Event]) -> int:
        for index, item in enumerate(items):
            if (stop is not None and stop.is_set()) or time.monotonic() + self.settings.timeout + LEASE_MARGIN > lease_ends:
                self.app.release_outbox(items[index:])
                return index
            self.attempt(item)
        return len(items)

    def attempt(self, item: OutboxItem) -> Attempt:
        """Send one leased entry and record the outcome."""
        event = item.event
        attributes = {"romancy.event.type": event.type, "romancy.event.id": event.id, "romancy.target": item.target,
                      "romancy.attempt": item.attempts + 1}
        observers = self.app.observers
        with observers.span("romancy.outbox.send", event.extensions, attributes) as annotate:
            traced = observers.headers()  # the receiver's spans go under this one
            if traced:
                item = replace(item, event=replace(event, extensions={**event.extensions, **traced}))
            headers, body = encode(item, self.settings.mode)
            error, retry = post(item.target, headers, body, self.settings.timeout)
            if error is not None:
                annotate({"romancy.error": error})
        result = outcome(item, error, retry, self.settings, self.app.now())
        self.app.record_attempt(item, result)
        _log(item, result, self.app.now())
        return result

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set: what is due at once, then nap until the next due time,
        looking every POLL seconds for entries this or another process just queued."""
        while not stop.is_set():
            try:
                self.relay_due(stop)
                due = self.app.next_outbox_due()
            except StorageFault as fault:  # nothing is lost: pending entries stay pending
                log.error("relay: %s", fault)
                due = None
            except Exception:
                log.exception("relay step failed")
                due = None
            stop.wait(POLL if due is None else min(POLL, max(0.0, due - self.app.now())))


def _log(item: OutboxItem, attempt: Attempt, now: float) -> None:
    event = item.event
    if attempt.status == SENT:
        log.info("relayed %s (%s) to %s", event.id, event.type, item.target)
    elif attempt.status == FAILED:
        log.warning("relaying %s to %s failed for good after %d attempt(s): %s", event.id, item.target,
                    item.attempts + 1, attempt.error)
    else:
        log.info("relaying %s to %s: %s; trying again in %.1f s", event.id, item.target, attempt.error,
                 (attempt.next_attempt_at or 0) - now)

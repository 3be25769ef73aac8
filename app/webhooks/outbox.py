"""Backend notices that are never dropped (issue 24 §5): `session.deleted`, `message.aborted`,
`message.reaction`.

A notice is a row of `webhook_notices`, written by `enqueue` in the transaction of the change it tells of,
so it exists exactly when the change committed. Any worker of any instance delivers it:
  - the worker that wrote it, at once after the commit (a commit hook, app.db.after_commit);
  - every worker, every NOTICE_POLL_SECONDS, whatever is due (retries, and what a dead worker left).
A deliverer claims rows with FOR UPDATE SKIP LOCKED and pushes their due time past its own attempt, so no
connection is held while the backend answers, and a worker killed mid-attempt only delays the notice
until that claim lapses. A failed attempt is tried again after a backoff (doubling, with jitter, capped);
past NOTICE_RETRY_HOURS the notice stays as a dead letter (metrics, docs/operations.md).

Delivery is at least once: every attempt carries the notice's `X-Chat-Engine-Event-Id` for the backend
to deduplicate on, and the same body bytes. Notices of one session may arrive out of order; each payload
carries its `timestamp`.
"""
import logging
import random
import time
import uuid

import gevent
import gevent.event
import gevent.pool
from psycopg.types.json import Jsonb

from app import ids, tracing
from app.db import after_commit, queries as q
from app.webhooks.client import Target, encode

log = logging.getLogger(__name__)

COMMIT_HOOK = "notices"
# A claim lasts this many attempt timeouts: an attempt is cut at its timeout, so only a deliverer that died
# (or stalled as long) leaves a notice claimed past it.
CLAIM_TIMEOUTS = 2
COUNTS_EVERY_SECONDS = 10  # how often a worker refreshes the pending / dead-letter gauges


def enqueue(conn, session_type_id, payload, url=None, headers=None):
    """Write a notice in the caller's transaction; this worker tries it as soon as that commits. `url`:
    another service of the session type than its webhook (the summarizer). `headers`: sent with it (what
    the event's schema has no room for). Returns its event id."""
    event_id = uuid.uuid4()
    q.enqueue_notice(conn, event_id=event_id, session_type_id=session_type_id, url=url, event=payload["event"],
                     body=encode(payload).decode(), trace_id=tracing.trace_id(),
                     session_id=ids.parse_session_id(payload["session_id"]),
                     headers=Jsonb(headers) if headers else None)
    after_commit(conn, COMMIT_HOOK)
    return event_id


class Outbox:
    """One worker's deliverer. `start()` runs its poll; a commit that wrote notices wakes it (`wake`)."""

    def __init__(self, db, client, config, metrics):
        self.db = db
        self.client = client
        self.config = config
        self.metrics = metrics
        self._attempts = gevent.pool.Pool(max(1, config.notice_batch))
        self._woken = gevent.event.Event()
        self._loop = None
        self._draining = None
        db.commit_hooks[COMMIT_HOOK] = self.wake

    def start(self):
        if self._loop is None:
            self._loop = gevent.spawn(self._run)

    def stop(self):
        if self._loop is not None:
            self._loop.kill(block=False)
            self._loop = None

    def wake(self):
        """A notice was just committed here: deliver now rather than at the next poll."""
        self._woken.set()
        if self._loop is None and (self._draining is None or self._draining.dead):
            # No poll in this process (a CLI run, an in-process test app): one drain, then nothing.
            self._draining = gevent.spawn(self._drain_logged)

    def _run(self):
        counts_due = 0.0
        while True:
            self._woken.wait(timeout=self.config.notice_poll_seconds * random.uniform(0.8, 1.0))
            self._woken.clear()
            self._drain_logged()
            now = time.monotonic()
            if now >= counts_due:
                counts_due = now + COUNTS_EVERY_SECONDS
                self._refresh_counts()

    def _drain_logged(self):
        try:
            self.drain()
        except Exception as exc:  # noqa: BLE001 - the database may be down; the next round tries again
            log.warning("notice delivery could not claim notices: %s", exc)

    def drain(self):
        """Claim what is due, as many as there are free attempt slots, until nothing more is due.
        Returns how many were claimed."""
        claimed = 0
        while True:
            free = self._attempts.free_count()
            if free == 0:
                return claimed  # the slots' attempts end within the timeout; the next round goes on
            with self.db.transaction() as conn:
                rows = q.claim_due_notices(conn, limit=free, retry_hours=self.config.notice_retry_hours,
                                           claim_seconds=self.config.notice_timeout_seconds * CLAIM_TIMEOUTS)
            for row in rows:
                self._attempts.spawn(self._attempt, row)
            claimed += len(rows)
            if len(rows) < free:
                return claimed

    def _attempt(self, row):
        event = row["event"]
        if row["webhook_url"] is None:
            outcome = "session_type_gone"
        else:
            target = Target(row["session_type_id"], row["webhook_url"], secret=row["webhook_secret"])
            outcome = self.client.deliver_notice(target, event, row["body"].encode(), row["event_id"],
                                                 self.config.notice_timeout_seconds, trace=row["trace_id"],
                                                 headers=row["headers"])
        try:
            with self.db.transaction() as conn:
                if outcome == "ok":
                    q.notice_delivered(conn, event_id=row["event_id"])
                else:
                    dead = row["expired"] or row["webhook_url"] is None
                    q.notice_failed(conn, event_id=row["event_id"], error=outcome, dead=dead,
                                    attempts=row["attempts"], delay_seconds=self.backoff(row["attempts"]))
        except Exception as exc:  # noqa: BLE001 - its claim lapses and it is tried again: at least once
            log.warning("notice %s: its outcome could not be recorded (%s)", row["event_id"], exc)
            return
        result = "delivered" if outcome == "ok" else "dead_lettered" if dead else "retried"
        if result != "delivered":
            log.warning("%s notice %s to %s: %s (attempt %d, %s)", event, row["event_id"], row["session_type_id"],
                        outcome, row["attempts"], result)
        self.metrics.notice(event, result)

    def backoff(self, attempts):
        """Seconds before the next attempt after `attempts` failed ones: doubling, ±25% jitter, capped."""
        delay = self.config.notice_retry_initial_seconds * 2 ** min(attempts - 1, 30)
        return min(delay * random.uniform(0.75, 1.25), self.config.notice_retry_max_seconds)

    def _refresh_counts(self):
        try:
            with self.db.transaction() as conn:
                counts = q.notice_counts(conn)
        except Exception:  # noqa: BLE001 - gauges wait for the next round
            return
        self.metrics.notice_backlog(counts["pending"], counts["dead"])

"""Bounds on concurrent expensive reads, per worker, next to the stream caps (app/streams/slots.py).

Searches, building and downloading exports, message pages, variants and share views hold a database
connection (and CPU) for as long as their statements run. Unbounded, one client firing many of them at
once took every connection of a worker's pool, and other clients' cheap requests (the session list)
queued behind them. Two bounds, counted in the worker's memory (ADR-0010: per-instance limits, no shared
state; with N workers a client may hold N x its cap on one instance):

- per client (JWT `sub`): at most MAX_CONCURRENT_READS_PER_CLIENT at once. One more is refused at once
  with 429 RATE_LIMIT_EXCEEDED and Retry-After: that client is told to slow down, it never queues.
- per worker: at most MAX_CONCURRENT_READS_PER_WORKER at once (default half of DB_POOL_MAX_SIZE), so
  expensive reads never hold the whole pool. One more waits for a slot, as it would have waited for a
  connection, up to DB_POOL_TIMEOUT_SECONDS; then 503 with Retry-After.

The public reads (the share view, export downloads) carry no client id and count toward the worker's
bound only. 0 turns a bound off.
"""
from collections import Counter
from contextlib import contextmanager

import gevent.lock

from app.errors import rate_limited, unavailable

RETRY_AFTER_SECONDS = 1


def too_many_reads(limit):
    return rate_limited(f"too many concurrent searches, exports or message reads for this client (at most {limit})",
                        RETRY_AFTER_SECONDS)


class ReadSlots:
    def __init__(self, per_client, per_worker, wait_seconds):
        self.per_client = per_client
        self.limit = per_worker
        self.wait_seconds = wait_seconds
        self._clients = Counter()
        self._worker = gevent.lock.BoundedSemaphore(per_worker) if per_worker > 0 else None
        self.active = 0   # reads running (holding a worker slot)
        self.waiting = 0  # reads queued for a worker slot

    def held_by(self, client_id):
        return self._clients[client_id]

    def state(self):
        """For /health/ready: what runs and what waits on this worker."""
        return {"active": self.active, "waiting": self.waiting, "limit": self.limit,
                "per_client_limit": self.per_client}

    @contextmanager
    def hold(self, client_id):
        """One expensive read of `client_id` (None: a public read) runs inside; raises ApiError (429 for
        the client's cap, 503 for the worker's) when it may not."""
        release = self.acquire(client_id)
        try:
            yield
        finally:
            release()

    def acquire(self, client_id):
        """Take the slots of one read (raises as `hold`); returns the function that gives them back, which
        may be called more than once: a response released when its body is written, or on an error."""
        self._take_client_slot(client_id)
        try:
            self._take_worker_slot()
        except BaseException:
            self._release_client_slot(client_id)
            raise
        self.active += 1
        released = False

        def release():
            nonlocal released
            if released:
                return
            released = True
            self.active -= 1
            if self._worker is not None:
                self._worker.release()
            self._release_client_slot(client_id)
        return release

    def _take_client_slot(self, client_id):
        if client_id is None or self.per_client <= 0:
            return
        if self._clients[client_id] >= self.per_client:
            raise too_many_reads(self.per_client)
        self._clients[client_id] += 1

    def _release_client_slot(self, client_id):
        if client_id is None or self.per_client <= 0:
            return
        self._clients[client_id] -= 1
        if self._clients[client_id] <= 0:
            del self._clients[client_id]  # the counter holds only clients with reads running

    def _take_worker_slot(self):
        if self._worker is None:
            return
        if self._worker.acquire(blocking=False):
            return
        self.waiting += 1
        try:
            acquired = self._worker.acquire(timeout=self.wait_seconds)
        finally:
            self.waiting -= 1
        if not acquired:
            raise unavailable("too many concurrent searches, exports or message reads on this instance, retry "
                              "shortly", retry_after=RETRY_AFTER_SECONDS, limit_type="concurrent")

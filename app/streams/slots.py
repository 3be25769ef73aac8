"""The caps on concurrent streams of one worker: per worker, and per client within it.

One client opening many long streams must not take every slot of a worker from the others. Counts live
in the worker's memory (ADR-0010: per-instance limits, no shared state); with N workers a client may
hold up to N x its cap across the instance. The client's cap is checked first, so a client at its cap
is told 429 (its own limit), not 503 (the instance's).
"""
from collections import Counter

from app.errors import rate_limited, unavailable

RETRY_AFTER_SECONDS = 1


def too_many_streams(limit):
    return rate_limited(f"too many concurrent streams for this client (at most {limit})", RETRY_AFTER_SECONDS)


class StreamSlots:
    def __init__(self, limit, per_client, metrics=None):
        self.limit = limit
        self.per_client = per_client
        self.active = 0
        self._clients = Counter()
        self._metrics = metrics  # the open-streams gauge

    def held_by(self, client_id):
        return self._clients[client_id]

    def open(self, client_id):
        """A ticket for one stream of `client_id`, or ApiError (429: the client's cap; 503: the worker's)."""
        if self._clients[client_id] >= self.per_client:
            raise too_many_streams(self.per_client)
        if self.active >= self.limit:
            raise unavailable("too many concurrent streams on this instance", retry_after=RETRY_AFTER_SECONDS,
                              limit_type="concurrent")
        self._clients[client_id] += 1
        self.active += 1
        if self._metrics is not None:
            self._metrics.stream_opened()
        return StreamTicket(self, client_id)

    def _release(self, client_id):
        self.active -= 1
        self._clients[client_id] -= 1
        if self._clients[client_id] <= 0:
            del self._clients[client_id]  # the counter holds only clients with streams open
        if self._metrics is not None:
            self._metrics.stream_closed()


class StreamTicket:
    """What one stream holds: its worker slot, its client's slot and its place in the gauge, given back
    together, once, whoever calls release() first (the relay's end, a failed start, the response's close)."""

    def __init__(self, slots, client_id):
        self._slots = slots
        self._client_id = client_id
        self._held = True

    def release(self):
        if self._held:
            self._held = False
            self._slots._release(self._client_id)

"""Per-client cap on concurrent streams (issue 10 §4), per worker, next to the worker-wide cap.

One client opening many long streams must not take every slot of a worker from the others. Counts live
in the worker's memory like the worker cap (ADR-0010: per-instance limits, no shared state); with N
workers a client may hold up to N x the cap across the instance.
"""
from collections import Counter

from app.errors import ApiError

RETRY_AFTER_SECONDS = 1


def too_many_streams(limit):
    return ApiError(429, "RATE_LIMIT_EXCEEDED", f"too many concurrent streams for this client (at most {limit})",
                    {"limit_type": "concurrent", "retry_after_seconds": RETRY_AFTER_SECONDS},
                    {"Retry-After": str(RETRY_AFTER_SECONDS)})


class ClientStreamSlots:
    def __init__(self, limit):
        self.limit = limit
        self._active = Counter()

    def active(self, client_id):
        return self._active[client_id]

    def try_acquire(self, client_id):
        if self._active[client_id] >= self.limit:
            return False
        self._active[client_id] += 1
        return True

    def release(self, client_id):
        self._active[client_id] -= 1
        if self._active[client_id] <= 0:
            del self._active[client_id]  # the counter holds only clients with streams open


class StreamTicket:
    """What a stream holds: one worker slot and one of its client's slots, released together, once.
    The relay sees it as its `slots` and calls release() when the stream ends."""

    def __init__(self, worker_slots, client_slots, client_id):
        self._worker_slots = worker_slots
        self._client_slots = client_slots
        self._client_id = client_id
        self._held = True

    def release(self):
        if self._held:
            self._held = False
            self._client_slots.release(self._client_id)
            self._worker_slots.release()

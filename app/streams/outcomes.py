"""How a reply ended: one value per reply instead of a handful of booleans.

A reply that did not complete carries `metadata.stop_reason`. Each outcome also decides whether the
backend's breaker hears about it (only backend faults count), whether the backend is told
`message.aborted`, and which `error` line a client still listening (or rejoining later) receives.
"""
from dataclasses import dataclass

from app.chat import replies
from app.error_codes import BACKEND_ERROR, BACKEND_TIMEOUT, INTERNAL_ERROR, INVALID_REQUEST
from app.webhooks.errors import BackendFailure, BackendTimeout


@dataclass(frozen=True)
class Outcome:
    stop_reason: str | None      # None: complete
    error_code: str | None       # the stream's final `error` line; None: `complete`
    message: str
    counts_for_breaker: bool     # replayed into the breaker (success or a backend fault)
    tells_backend: bool          # the backend gets message.aborted

    @property
    def complete(self):
        return self.stop_reason is None


COMPLETE = Outcome(None, None, "", True, False)
CANCELLED = Outcome("cancelled", INVALID_REQUEST, "the reply was stopped by the client", False, True)
SUPERSEDED = Outcome("superseded", INVALID_REQUEST, "the reply was interrupted by a newer message", False, True)
MAX_DURATION = Outcome("max_duration", BACKEND_TIMEOUT, "the reply reached the session type's "
                       "max_reply_seconds", False, True)
SHUTDOWN = Outcome("shutdown", INTERNAL_ERROR, "this instance is shutting down; the partial reply is saved, "
                   "retry to continue", False, True)
INTERRUPTED = Outcome("interrupted", INTERNAL_ERROR, "the instance streaming this reply stopped; the partial "
                      "reply is saved", False, False)

# The last resort: the database refused the reply's content (not an outage, which is
# retried). The live row goes anyway, so the session takes messages again; the content is not stored.
STORAGE_REFUSED = Outcome(replies.STORAGE_REFUSED, INTERNAL_ERROR, "the reply could not be stored", False, False)

STOP_REASONS = ("cancelled", "backend_error", "backend_timeout", "max_duration", "shutdown", "superseded",
                "interrupted", "storage_refused")
BY_REQUEST = {"cancelled": CANCELLED, "superseded": SUPERSEDED, "interrupted": INTERRUPTED}


def backend_failure(failure: BackendFailure):
    """A backend fault: it counts for the breaker when the failure says so (a 4xx does not)."""
    timeout = isinstance(failure, BackendTimeout)
    return Outcome("backend_timeout" if timeout else "backend_error", failure.error_code, str(failure),
                   True, False)


def for_stored(stop_reason):
    """The final line a rejoining client gets for a reply that ended without completing."""
    if stop_reason == "backend_timeout":
        return Outcome(stop_reason, BACKEND_TIMEOUT, "the backend stopped answering", True, False)
    if stop_reason == "backend_error" or stop_reason is None:
        return Outcome(stop_reason or "backend_error", BACKEND_ERROR, "the backend failed", True, False)
    known = {o.stop_reason: o for o in (CANCELLED, SUPERSEDED, MAX_DURATION, SHUTDOWN, INTERRUPTED,
                                         STORAGE_REFUSED)}
    return known.get(stop_reason, INTERRUPTED)

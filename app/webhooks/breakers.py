"""One circuit breaker per session type, per worker (the only per-instance state besides streams).

pybreaker runs the guarded function while holding a lock, so guarding a long or streaming call with
`breaker.call` would serialize every call to that backend. Instead the engine:
  1. asks `admit()` before sending (fail fast while open; a bounded number of probes when half-open),
  2. makes the call without any lock held,
  3. replays the outcome through `breaker.call` with a function that returns or raises at once, so
     pybreaker's own counting and state transitions decide, holding its lock for microseconds.
Only backend faults count (connect errors, 5xx, malformed streams, no first byte or too long a
silence): a client's cancel, a reply's total-duration cap and a backend's 4xx answer to one client's
input are never replayed as failures, so one client cannot open the breaker for everyone.
"""
import threading
from datetime import UTC, datetime, timedelta

import pybreaker

from app.webhooks.errors import BreakerOpen


class _Replay(Exception):
    """Carries a recorded failure into pybreaker."""


def _return_or_raise(failure):
    if failure is not None:
        raise _Replay(str(failure))


class _StateReporter(pybreaker.CircuitBreakerListener):
    def __init__(self, on_change):
        self._on_change = on_change

    def state_change(self, cb, old_state, new_state):
        self._on_change(cb.name, new_state.name.replace("_", "-"))


class Breaker:
    def __init__(self, name, fail_max, reset_seconds, half_open_max_calls, on_change=None):
        self.name = name
        listeners = [_StateReporter(on_change)] if on_change else []
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_seconds, name=name, throw_new_error_on_trip=False,
            listeners=listeners)
        if on_change:
            on_change(name, "closed")
        self._reset = timedelta(seconds=reset_seconds)
        self._half_open_max = half_open_max_calls
        self._probes = 0
        self._guard = threading.Lock()

    @property
    def state(self):
        state = self._breaker.current_state
        if state == "open" and self._open_remaining() <= 0:
            return "half-open"
        return {"half_open": "half-open"}.get(state, state)

    def _open_remaining(self):
        opened_at = self._breaker._state_storage.opened_at
        if opened_at is None:
            return 0
        return (opened_at + self._reset - datetime.now(UTC)).total_seconds()

    def admit(self):
        """Returns a ticket to pass to `record`; raises BreakerOpen when no request may be sent."""
        state = self.state
        if state == "closed":
            return False
        if state == "open":
            raise BreakerOpen(self._open_remaining())
        with self._guard:
            if self._probes >= self._half_open_max:
                raise BreakerOpen(1)
            self._probes += 1
        return True

    def record(self, probe, failure=None):
        """Report a finished call: failure None means success."""
        try:
            self._breaker.call(_return_or_raise, failure)
        except (_Replay, pybreaker.CircuitBreakerError):
            pass
        finally:
            self.release(probe)

    def release(self, probe):
        """Give back a probe slot without reporting (the client went away)."""
        if probe:
            with self._guard:
                self._probes -= 1


class BreakerRegistry:
    """Breakers by session type, built from each type's own settings (failure threshold, open seconds,
    half-open probes); a type whose settings change gets a fresh breaker on its next call."""

    def __init__(self, config, on_change=None):
        self._config = config
        self._on_change = on_change
        self._breakers = {}
        self._lock = threading.Lock()

    def get(self, target):
        """`target`: a webhooks.client.Target, or a session type id (the instance's default settings)."""
        name = getattr(target, "breaker_key", target)
        defaults = (self._config.breaker_fail_max, self._config.breaker_reset_seconds,
                    self._config.breaker_half_open_max_calls)
        chosen = getattr(target, "breaker_settings", (None, None, None))
        settings = tuple(default if value is None else value for value, default in zip(chosen, defaults, strict=True))
        entry = self._breakers.get(name)
        if entry is None or entry[0] != settings:
            with self._lock:
                entry = self._breakers.get(name)
                if entry is None or entry[0] != settings:
                    entry = (settings, Breaker(name, *settings, self._on_change))
                    self._breakers[name] = entry
        return entry[1]

    def states(self):
        return {name: entry[1].state for name, entry in list(self._breakers.items())}

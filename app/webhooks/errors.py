"""How a backend call can fail. The relay and the API turn these into contract error codes."""
from app.error_codes import BACKEND_ERROR, BACKEND_TIMEOUT


class BackendFailure(Exception):
    error_code = BACKEND_ERROR
    counts_against_breaker = True

    def details(self):
        return {}


class BackendError(BackendFailure):
    """The backend answered wrongly, or not at all (refused, reset, 5xx, malformed, too large)."""

    @classmethod
    def for_status(cls, status):
        error = cls(f"backend answered HTTP {status}")
        # A 4xx is the backend refusing one request (one client's input), not the backend being down;
        # 408 and 429 are the backend out of time or capacity, which is its health.
        error.counts_against_breaker = not (400 <= status < 500) or status in (408, 429)
        return error


class BackendTimeout(BackendFailure):
    error_code = BACKEND_TIMEOUT

    def __init__(self, timeout_seconds):
        super().__init__(f"backend did not answer within {timeout_seconds:g} s")
        self.timeout_ms = int(timeout_seconds * 1000)

    def details(self):
        return {"timeout_ms": self.timeout_ms}


class BreakerOpen(BackendFailure):
    """Failing fast: no request was sent. Not a new failure of the backend."""
    counts_against_breaker = False

    def __init__(self, retry_after_seconds):
        super().__init__("backend unavailable (circuit breaker open)")
        self.retry_after_seconds = max(1, int(retry_after_seconds + 0.999))

    def details(self):
        return {"retry_after_seconds": self.retry_after_seconds}

"""HTTP calls to webhook backends: JSON calls with retries, streams, and fire-and-forget notices.

JSON calls and streams pass the session type's breaker (see breakers.py); fire-and-forget notices do not.
Timeouts are total per call (a gevent.Timeout around the whole exchange), not just requests' silence
between bytes. A stream's deadline is enforced by its consumer (app/streaming.py).
"""
import json
import logging
import random
import time

import gevent
import gevent.pool
import requests
from requests.adapters import HTTPAdapter

from app import url_policy
from app.webhooks import policy, signing
from app.webhooks.breakers import BreakerRegistry
from app.webhooks.errors import BackendError, BackendFailure, BackendTimeout, BreakerOpen
from app.webhooks.replies import read_events

log = logging.getLogger(__name__)

JSON_ACCEPT = "application/json"
STREAM_ACCEPT = "application/x-ndjson, application/json"
MAX_JSON_BYTES = 1024 * 1024


class Target:
    """Where and how long: a session type's webhook, and the secret its requests are signed with."""

    def __init__(self, session_type_id, url, timeout_seconds=None, secret=None):
        self.session_type_id = session_type_id
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.secret = secret


class WebhookClient:
    def __init__(self, config, metrics):
        self.config = config
        self.metrics = metrics
        self.breakers = BreakerRegistry(config, on_change=metrics.breaker)
        self.http = requests.Session()
        adapter = HTTPAdapter(pool_connections=64, pool_maxsize=config.webhook_pool_maxsize, max_retries=0)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self._background = gevent.pool.Pool(config.fire_and_forget_max_pending)

    # -- plumbing -------------------------------------------------------------------------------

    def _post(self, target, payload, timeout, accept, stream):
        # Checked on every call, not only at registration: DNS may have changed since (url_policy.py).
        try:
            url_policy.check_call(target.url, self.config.webhook_allowed_networks)
        except url_policy.UrlNotAllowed as exc:
            # The detail (addresses) is for the operator's log, not for clients.
            log.warning("webhook to %s refused by the URL policy: %s", target.session_type_id, exc)
            raise BackendError("webhook URL refused by the engine's URL policy") from None
        body = json.dumps(payload).encode()
        headers = {"Accept": accept, "User-Agent": "chat-engine", "Content-Type": "application/json"}
        if target.secret:
            headers.update(signing.headers(target.secret, body))
        return self.http.post(
            target.url, data=body, stream=stream, allow_redirects=False,
            timeout=(min(self.config.webhook_connect_timeout_seconds, timeout), timeout), headers=headers)

    def _count(self, target, event, outcome):
        self.metrics.webhook_call(target.session_type_id, event, outcome)

    @staticmethod
    def _failure_from(exc, timeout):
        if isinstance(exc, BackendFailure):
            return exc
        if isinstance(exc, (requests.Timeout, gevent.Timeout)):
            return BackendTimeout(timeout)
        return BackendError(f"backend unreachable ({type(exc).__name__})")

    # -- JSON events (session.created, health_check) -------------------------------------------

    def _json_attempt(self, target, event, payload, timeout):
        breaker = self.breakers.get(target.session_type_id)
        probe = breaker.admit()
        failure = None
        try:
            with gevent.Timeout(timeout, BackendTimeout(timeout)):
                response = self._post(target, payload, timeout, JSON_ACCEPT, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        raise BackendError(f"backend answered HTTP {response.status_code}")
                    body = response.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
                finally:
                    response.close()
            if len(body) > MAX_JSON_BYTES:
                raise BackendError("backend answer exceeds the size limit")
            try:
                return json.loads(body)
            except ValueError:
                raise BackendError("backend answer is not valid JSON") from None
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            failure = self._failure_from(exc, timeout)
            raise failure from None
        finally:
            breaker.record(probe, failure)
            self._count(target, event, "ok" if failure is None else failure.error_code)

    def call_json(self, target, payload):
        """A JSON request/response event, retried per the event table with exponential backoff and jitter."""
        event = payload["event"]
        rule = policy.POLICIES[event]
        timeout = policy.timeout_for(event, target.timeout_seconds)
        attempts = self.config.retry_attempts if rule.retry else 1
        delay = self.config.retry_initial_delay_seconds
        for attempt in range(1, attempts + 1):
            try:
                return self._json_attempt(target, event, payload, timeout)
            except BreakerOpen:
                raise
            except BackendFailure as failure:
                if attempt == attempts:
                    raise
                log.info("webhook %s to %s failed (%s), retry %d", event, target.session_type_id, failure, attempt)
                gevent.sleep(random.uniform(0, delay) + delay / 2)
                delay = min(delay * 2, self.config.retry_max_delay_seconds)

    # -- streaming events (message.new, message.recreate, session.summary) ----------------------

    def stream(self, target, event):
        """Admit a streaming event through the breaker (raises BreakerOpen). Set `.payload`, then iterate."""
        timeout = policy.timeout_for(event, target.timeout_seconds)
        breaker = self.breakers.get(target.session_type_id)
        probe = breaker.admit()
        return BackendStream(self, target, event, timeout, breaker, probe)

    # -- fire-and-forget events ------------------------------------------------------------------

    def notify(self, target, payload):
        """Send off the request path; failures are logged and never reach a client. Bounded backlog."""
        if self._background.full():
            log.warning("dropping %s webhook: %d notices already pending", payload["event"],
                        self._background.size)
            self._count(target, payload["event"], "dropped")
            return None
        return self._background.spawn(self._deliver, target, payload)

    def _deliver(self, target, payload):
        event = payload["event"]
        timeout = min(policy.timeout_for(event), self.config.fire_and_forget_timeout_seconds)
        try:
            with gevent.Timeout(timeout, BackendTimeout(timeout)):
                response = self._post(target, payload, timeout, JSON_ACCEPT, stream=False)
            outcome = "ok" if 200 <= response.status_code < 300 else "BACKEND_ERROR"
        except Exception as exc:  # noqa: BLE001 - a notice's failure only matters to the log
            outcome = self._failure_from(exc, timeout).error_code
        if outcome != "ok":
            log.warning("%s webhook to %s failed: %s", event, target.session_type_id, outcome)
        self._count(target, event, outcome)


class BackendStream:
    """One streaming call. `events()` yields parsed events; `finish()` reports the outcome exactly once."""

    def __init__(self, client, target, event, timeout, breaker, probe):
        self.client = client
        self.target = target
        self.event = event
        self.payload = None
        self.timeout = timeout
        self.deadline = None
        self._breaker = breaker
        self._probe = probe
        self._response = None
        self._finished = False

    def start_clock(self):
        """The event's total timeout runs from the moment the request leaves."""
        self.deadline = time.monotonic() + self.timeout

    def events(self):
        try:
            self._response = self.client._post(self.target, self.payload, self.timeout, STREAM_ACCEPT, stream=True)
            if not 200 <= self._response.status_code < 300:
                raise BackendError(f"backend answered HTTP {self._response.status_code}")
            yield from read_events(self._response, self.client.config.max_reply_bytes)
        except BackendFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - connection errors and read timeouts
            raise self.client._failure_from(exc, self.timeout) from None
        finally:
            self.close()

    def close(self):
        if self._response is not None:
            self._response.close()

    def finish(self, failure=None, cancelled=False):
        """Report the outcome to the breaker and metrics. A client's cancellation reports nothing."""
        if self._finished:
            return
        self._finished = True
        self.close()
        if cancelled:
            self._breaker.release(self._probe)
            self.client._count(self.target, self.event, "cancelled")
            return
        self._breaker.record(self._probe, failure if failure and failure.counts_against_breaker else None)
        self.client._count(self.target, self.event, "ok" if failure is None else failure.error_code)

"""Relay a backend's stream to the client as NDJSON, with no database connection held meanwhile.

Two helper greenlets feed one queue that the response generator consumes:
  - the pump reads the backend (app.webhooks) and queues parsed events;
  - the watcher waits on the client's socket and queues `client_gone` when it closes, so a vanished
    client is noticed even while the backend is silent (gunicorn alone notices only on a write).
The consumer enforces the event's total deadline, writes each chunk at once, and at the end saves the
reply through the exchange (complete, failed, or cancelled with `is_complete=false`).
"""
import json
import logging
import socket
import time
import weakref

import gevent
import gevent.queue
import gevent.socket

from app.errors import error_body, trace_id
from app.webhooks.errors import BackendError, BackendFailure, BackendTimeout
from app.webhooks.replies import merge_chunk

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
RECEIVED_AT = "chat_engine.received_at"  # environ key, set when the request arrives


_open_relays = weakref.WeakSet()  # this worker's streams in flight (per-instance state, ADR-0010)


def end_streams_for_shutdown():
    """Called when the worker's stream grace period after SIGTERM runs out: every open stream saves
    what it has (incomplete) and tells its client to retry."""
    for relay in list(_open_relays):
        relay.queue.put(("shutdown", None))


def ndjson_line(event):
    return (json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


class StreamSlots:
    """The per-worker cap on concurrent streams (SPEC §5)."""

    def __init__(self, limit):
        self.limit = limit
        self.active = 0

    def try_acquire(self):
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self):
        self.active -= 1


class Reply:
    """The assistant content received so far, merged into content parts."""

    def __init__(self):
        self.parts = []
        self.metadata = {}

    def add(self, chunk):
        merge_chunk(self.parts, chunk)


class ClientWatcher:
    """Queues ("client_gone", None) when the client's socket reaches EOF or fails."""

    def __init__(self, sock, queue):
        self._sock = sock
        self._queue = queue
        self._greenlet = gevent.spawn(self._watch) if sock is not None else None

    def _watch(self):
        try:
            gevent.socket.wait_read(self._sock.fileno())
            data = self._sock.recv(1, socket.MSG_PEEK)
        except OSError:
            data = b""
        if not data:
            self._queue.put(("client_gone", None))
        # Otherwise the client pipelined another request: stop watching; a failed write still tells.

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=False)


class Relay:
    """One streamed exchange. Iterate `lines()`; the response's close hook calls `close()`."""

    def __init__(self, exchange, config, slots, environ, metrics):
        self.exchange = exchange
        self.config = config
        self.slots = slots
        self.sock = environ.get("gunicorn.socket")
        self.metrics = metrics
        self.reply = Reply()
        self.queue = gevent.queue.Queue()
        self.buffered = 0
        self.failure = None
        self.cancelled = False
        self.shutting_down = False
        self.done = False
        self._pump = None
        self._watcher = None
        self._trace_id = trace_id()
        self._received_at = environ.get(RECEIVED_AT, time.monotonic())

    # -- the generator handed to the WSGI server --------------------------------------------------

    def lines(self):
        try:
            yield ndjson_line(self.exchange.start_event())
            yield from self._relay()
        except GeneratorExit:
            self.cancelled = True
            self.close()
            raise
        except BaseException:
            # GreenletExit / gevent.Timeout while shutting down: keep what was received.
            self.cancelled = True
            self.close()
            raise
        final = self.close()
        if final is not None:
            yield final

    def _relay(self):
        stream = self.exchange.stream
        stream.start_clock()
        _open_relays.add(self)
        self._pump = gevent.spawn(self._run_pump, stream)
        self._watcher = ClientWatcher(self.sock, self.queue)
        while True:
            remaining = stream.deadline - time.monotonic()
            try:
                kind, payload = self.queue.get(timeout=max(remaining, 0))
            except gevent.queue.Empty:
                self.failure = BackendTimeout(stream.timeout)
                return
            if kind == "chunk":
                if not self.reply.parts:
                    self.metrics.first_chunk(time.monotonic() - self._received_at)
                self.reply.add(payload)
                yield ndjson_line({"type": "chunk", "message_id": self.exchange.public_message_id,
                                   "chunk": payload})
                self.buffered -= len(payload["content"])
            elif kind == "complete":
                self.reply.metadata = payload
                return
            elif kind == "failure":
                self.failure = payload
                return
            elif kind == "client_gone":
                self.cancelled = True
                return
            elif kind == "shutdown":
                self.shutting_down = True
                return

    def _run_pump(self, stream):
        self.metrics.routing(time.monotonic() - self._received_at)
        try:
            for kind, payload in stream.events():
                if kind == "chunk":
                    self.buffered += len(payload["content"])
                    if self.buffered > self.config.stream_buffer_limit_bytes:
                        self._cut_slow_client()
                        return
                self.queue.put((kind, payload))
        except BackendFailure as failure:
            self.queue.put(("failure", failure))
        except Exception as exc:  # never let a pump error go unreported
            log.exception("relay pump failed")
            self.queue.put(("failure", BackendError(f"relay failed ({type(exc).__name__})")))

    def _cut_slow_client(self):
        """The client reads slower than the backend writes: cancel, as if it had gone away."""
        log.warning("client too slow: more than %d bytes buffered, cancelling stream",
                    self.config.stream_buffer_limit_bytes)
        self.queue.put(("client_gone", None))
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # unblocks a write stuck on the full socket
            except OSError:
                pass

    # -- the end of an exchange, whichever way it ends ----------------------------------------------

    def _drain_queued_chunks(self):
        while not self.queue.empty():
            kind, payload = self.queue.get_nowait()
            if kind == "chunk":
                self.reply.add(payload)

    def close(self):
        """Stop the helpers, save the reply, report to the breaker. Idempotent. Returns the final line."""
        if self.done:
            return None
        self.done = True
        _open_relays.discard(self)
        try:
            if self._pump is not None:
                self._pump.kill(block=True, timeout=1)
            if self._watcher is not None:
                self._watcher.stop()
            if self._pump is None and not self.cancelled and self.failure is None:
                self.cancelled = True  # closed before the stream ever started
            if self.cancelled or self.shutting_down:
                self._drain_queued_chunks()
            # Neither a client leaving nor our own shutdown says anything about the backend's health.
            self.exchange.stream.finish(failure=self.failure, cancelled=self.cancelled or self.shutting_down)
            return self._save()
        finally:
            self.slots.release()
            self.metrics.stream_closed()

    def _error_line(self, error_code, message, details=None):
        return ndjson_line({"type": "error", "message_id": self.exchange.public_message_id,
                            **error_body(error_code, message, details, trace=self._trace_id)})

    def _save(self):
        complete = self.failure is None and not self.cancelled and not self.shutting_down
        try:
            self.exchange.save(self.reply.parts, self.reply.metadata, complete)
        except Exception:  # the database may be down; the client gets a clean error
            log.exception("could not store the reply", extra={"trace_id": self._trace_id})
            if self.cancelled:
                return None
            return self._error_line("INTERNAL_ERROR", "the reply could not be stored")
        if self.cancelled or self.shutting_down:
            self.exchange.aborted(self.reply.parts)
        if self.cancelled:
            return None
        if self.shutting_down:
            return self._error_line("INTERNAL_ERROR", "this instance is shutting down; the partial reply is "
                                    "saved, retry to continue", {"retry_after_seconds": 1})
        if self.failure is not None:
            log.warning("%s to %s failed: %s", self.exchange.stream.event, self.exchange.target.session_type_id,
                        self.failure, extra={"trace_id": self._trace_id})
            return self._error_line(self.failure.error_code, str(self.failure), self.failure.details())
        return ndjson_line({"type": "complete", "message_id": self.exchange.public_message_id,
                            "metadata": self.reply.metadata})

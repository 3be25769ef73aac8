"""Relay a backend's stream to the client as NDJSON, with no database connection held meanwhile.

One driver greenlet owns the exchange from the first byte sent to the backend to the stored reply:
  - the pump reads the backend (app.webhooks), takes each chunk itself (into the reply, the chunk log
    and the client's line queue: no hop through the driver per chunk) and queues the backend's end,
    a failure or an overflow for the driver;
  - the watcher waits on the client's socket and queues `client_gone` when it closes, so a vanished
    client is noticed even while the backend is silent (gunicorn alone notices only on a write);
  - stops asked for from any instance (POST /stop, a superseding send) arrive through app.streams.wakeups;
  - the chunk log (batched persistence, app.streams.chunk_log) lets a client rejoin the reply from any
    instance (app.streams.rejoin).
The response generator only forwards the lines queued for it. A client that leaves a `resumable` reply
detaches: the driver runs on to the end (timeouts still apply). The driver enforces the total cap
(`max_reply_seconds`); the silence bound is the backend read timeout (app.webhooks.client).
At the end the driver stores the reply through the exchange with its outcome (app.streams.outcomes).
"""
import json
import logging
import socket
import time
import weakref

import gevent
import gevent.queue

from app.chat import replies
from app.error_codes import INTERNAL_ERROR
from app.errors import error_body, trace_id
from app.streams import outcomes
from app.streams.chunk_log import ChunkLog
from app.webhooks.errors import BackendError, BackendFailure
from app.webhooks.replies import ContentBuilder

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
RECEIVED_AT = "chat_engine.received_at"  # environ key, set when the request arrives
_END = None  # the line queue's end marker


_open_relays = weakref.WeakSet()  # this worker's replies in flight (per-instance state, ADR-0010)


def end_streams_for_shutdown():
    """Called when the worker's stream grace period after SIGTERM runs out: every open stream saves
    what it has (incomplete, `shutdown`) and tells its client to retry."""
    for relay in list(_open_relays):
        relay.events.put(("shutdown", None))


def ndjson_line(event):
    return (json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


class Reply:
    """The assistant content received so far, merged into content parts."""

    def __init__(self):
        self.content = ContentBuilder()
        self.metadata = {}

    def add(self, chunk):
        self.content.add(chunk)

    @property
    def parts(self):
        return self.content.parts


class ClientWatcher:
    """Calls `on_gone()` when the client's socket reaches EOF or fails.

    A bare libev watcher while the socket is quiet (no greenlet per stream: most streams end without
    it ever firing); when the socket turns readable, a greenlet looks at what came."""

    def __init__(self, sock, on_gone):
        self._sock = sock
        self._on_gone = on_gone
        self._io = None
        if sock is not None:
            try:
                self._io = gevent.get_hub().loop.io(sock.fileno(), 1)  # 1: libev's EV_READ
            except (OSError, ValueError):  # already closed: the first write will tell
                return
            self._io.start(self._readable)

    def _readable(self):  # runs in the hub: must not block
        self.stop()
        gevent.spawn(self._look)

    def _look(self):
        try:
            data = self._sock.recv(1, socket.MSG_PEEK)
        except OSError:
            data = b""
        if not data:
            self._on_gone()
        # Otherwise the client pipelined another request: stop watching; a failed write still tells.

    def stop(self):
        if self._io is not None:
            self._io.close()
            self._io = None


PIECE_BYTES = 64 * 1024  # the most handed to the server in one write (a long line goes in several)


class WriteWatch:
    """Cuts a client that stops reading (STREAM_WRITE_TIMEOUT_SECONDS).

    gunicorn's gevent worker writes what a response generator yields with a blocking `sendall` in the
    request's greenlet. Once the socket buffers are full, a client that reads nothing would hold that
    greenlet, its stream slot and whatever the generator holds, for ever. So each piece is marked while
    the server writes it, and a timer shuts the socket down once one has waited longer than `seconds`:
    the stuck write fails (EPIPE) and gunicorn closes the generator, as after any failed write. Lines
    go out in pieces of at most PIECE_BYTES, so a client that reads slowly but steadily is never cut,
    only one that takes `seconds` to accept one piece. No timer runs when there is no socket or no
    timeout (0)."""

    def __init__(self, sock, seconds):
        self._sock = sock
        self._seconds = seconds
        self._since = None  # when the piece the server is writing was handed over
        self._timer = None
        if sock is not None and seconds and seconds > 0:
            interval = min(max(seconds / 4, 0.05), 5.0)
            self._timer = gevent.get_hub().loop.timer(interval, interval)
            self._timer.start(self._check)

    def send(self, line):
        """Yields `line` in pieces, each marked while the server writes it: `yield from watch.send(line)`."""
        if len(line) <= PIECE_BYTES:
            self._since = time.monotonic()
            yield line
        else:
            for start in range(0, len(line), PIECE_BYTES):
                self._since = time.monotonic()
                yield line[start:start + PIECE_BYTES]
        self._since = None

    def finishing(self):
        """The generator is done: the server still writes the response's end, which may block too."""
        self._since = time.monotonic()

    def _check(self):  # runs in the hub: must not block
        since = self._since
        if since is not None and time.monotonic() - since > self._seconds:
            self.stop()
            gevent.spawn(self._cut)

    def _cut(self):
        log.warning("client accepted nothing for %s s: stream cut", self._seconds)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # fails the stuck write
        except OSError:
            pass

    def stop(self):
        if self._timer is not None:
            self._timer.close()
            self._timer = None


def error_line(message_id, error_code, message, details=None, trace=None):
    return ndjson_line({"type": "error", "message_id": message_id,
                        **error_body(error_code, message, details, trace=trace)})


class Relay:
    """One streamed exchange. Iterate `lines()`; the response's close hook calls `close()`."""

    def __init__(self, exchange, services, environ, ticket, resumable=False, after_stored=None):
        """`after_stored(outcome)`: called once the reply's end is stored (app/streams/follow_ups.py)."""
        self.exchange = exchange
        self.after_stored = after_stored
        self.config = services.config
        # What the stream holds (its worker and client slots, the open-streams gauge), released at the end.
        self.ticket = ticket
        self.metrics = services.metrics
        self.signals = services.signals
        self.leases = services.leases
        self.db = services.db
        self.resumable = resumable
        self.sock = environ.get("gunicorn.socket")
        self.reply = Reply()
        self.events = gevent.queue.Queue()   # the backend's end, watcher, signals, shutdown -> driver
        self.out = gevent.queue.Queue()      # pump and driver -> the client's response generator
        self.buffered = 0  # bytes handed to the client's response generator, not yet written
        self.detached = False
        mode = self.config.chunk_log
        self.chunk_log = ChunkLog(services.db, exchange.session_id, exchange.message_id,
                                  self.config.chunk_flush_seconds if mode == "on" else None) \
            if exchange.live and mode in ("on", "end") else None
        self._driver = None
        self._writes = None
        self._chunk_head = None
        self._pump = None
        self._watcher = None
        self._subscription = None
        self._finished = False
        self._trace_id = trace_id()
        self._received_at = environ.get(RECEIVED_AT, time.monotonic())

    @property
    def message_id(self):
        return self.exchange.message_id

    @property
    def session_id(self):
        return self.exchange.session_id

    # -- the generator handed to the WSGI server --------------------------------------------------

    def lines(self):
        writes = self._writes = WriteWatch(self.sock, self.config.stream_write_timeout_seconds)
        yield from writes.send(ndjson_line(self.exchange.start_event()))
        self._driver = gevent.spawn(self._drive)
        self._watcher = ClientWatcher(self.sock, self.client_gone)
        try:
            while True:
                line = self.out.get()
                if line is _END:
                    writes.finishing()
                    return
                yield from writes.send(line)
                self.buffered -= len(line)
        except BaseException:
            # GeneratorExit (a failed write), GreenletExit / gevent.Timeout while shutting down.
            self.client_gone()
            raise
        finally:
            self._watcher.stop()

    def client_gone(self):
        self.events.put(("client_gone", None))

    def stop(self, reason):
        """A stop asked for elsewhere ('cancelled', 'superseded', 'interrupted'); any greenlet may call."""
        self.events.put(("stop", reason))

    def close(self):
        """The response's close hook: a response closed before it was ever iterated still ends its
        exchange (as cancelled) and gives its stream slot back."""
        if self._writes is not None:
            self._writes.stop()
        if self._driver is None and not self._finished:
            self._finish(outcomes.CANCELLED)

    # -- the driver -------------------------------------------------------------------------------

    def _drive(self):
        stream = self.exchange.stream
        stream.start_clock()
        _open_relays.add(self)
        if self.leases is not None and self.exchange.live:
            self.leases.hold(self)
        if self.signals is not None and self.exchange.live:
            self._subscription = self.signals.subscribe(self.message_id, self._on_signal)
        self._backend_events = stream.events(self.exchange.payload)
        self._pump = gevent.spawn(self._run_pump)
        outcome = outcomes.CANCELLED
        try:
            outcome = self._consume(stream)
        finally:
            self._finish(outcome)

    def _consume(self, stream):
        while True:
            remaining = stream.deadline - time.monotonic()
            try:
                kind, payload = self.events.get(timeout=max(remaining, 0))
            except gevent.queue.Empty:
                return outcomes.MAX_DURATION
            if kind == "overflow":
                # The pump stopped reading: more than the buffer limit waited for the client.
                if self.buffered > self.config.stream_buffer_limit_bytes:
                    self._cut_slow_client()
                    if not self.resumable:
                        return outcomes.CANCELLED
                    self._detach()  # a resumable reply runs on; its client may rejoin at its offset
                self._pump = gevent.spawn(self._run_pump, resume=True)  # the client caught up meanwhile
            elif kind == "complete":
                self.reply.metadata = payload
                return outcomes.COMPLETE
            elif kind == "failure":
                self.failure = payload
                return outcomes.backend_failure(payload)
            elif kind == "client_gone":
                if not self.resumable:
                    return outcomes.CANCELLED
                self._detach()
            elif kind == "shutdown":
                return outcomes.SHUTDOWN
            elif kind == "stop":
                return outcomes.BY_REQUEST.get(payload, outcomes.CANCELLED)

    def _chunk(self, chunk):
        if not self.reply.content:
            self.metrics.first_chunk(time.monotonic() - self._received_at)
        self.reply.add(chunk)
        if self.chunk_log is not None:
            self.chunk_log.add(chunk)
        if self.detached:
            return
        line = self._chunk_line(chunk)
        self.buffered += len(line)
        self.out.put(line)

    def _chunk_line(self, chunk):
        """ndjson_line of a chunk event, its constant head encoded once per exchange."""
        if self._chunk_head is None:
            self._chunk_head = ('{"type":"chunk","message_id":' + json.dumps(self.exchange.public_message_id)
                                + ',"chunk":')
        return (self._chunk_head + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False) + "}\n").encode()

    def _detach(self):
        """The client of a resumable reply left: the reply runs on; the client may rejoin anywhere."""
        if not self.detached:
            self.detached = True
            self.out.put(_END)

    def _on_signal(self, kind):
        if kind.startswith("stop:"):
            self.stop(kind[len("stop:"):])

    def _run_pump(self, resume=False):
        """Reads the backend. Chunks are taken here, in the order read (no switch to another greenlet
        between reading one and handing its line on, so a pump killed by the driver never leaves one
        half taken); the driver hears only of the end, a failure, or an overflow."""
        if not resume:
            self.metrics.routing(time.monotonic() - self._received_at)
        try:
            for kind, payload in self._backend_events:  # one iterator: a resumed pump reads on
                if kind == "chunk":
                    self._chunk(payload)
                else:
                    self.events.put((kind, payload))
                if not self.detached and self.buffered > self.config.stream_buffer_limit_bytes:
                    self.events.put(("overflow", None))
                    return  # stop reading the backend: memory stays bounded by the limit
        except BackendFailure as failure:
            self.events.put(("failure", failure))
        except Exception as exc:  # never let a pump error go unreported
            log.exception("relay pump failed")
            self.events.put(("failure", BackendError(f"relay failed ({type(exc).__name__})")))

    def _cut_slow_client(self):
        """The client reads slower than the backend writes: drop it, as if it had gone away."""
        log.warning("client too slow: more than %d bytes buffered, cancelling stream",
                    self.config.stream_buffer_limit_bytes)
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # unblocks a write stuck on the full socket
            except OSError:
                pass

    # -- the end of an exchange, whichever way it ends ----------------------------------------------

    def _finish(self, outcome):
        """Stop the helpers, store the reply, report to the breaker, write the last line. Once."""
        if self._finished:
            return
        self._finished = True
        _open_relays.discard(self)
        try:
            if self._pump is not None and not outcome.complete:
                self._pump.kill(block=True, timeout=1)
                try:
                    self._backend_events.close()  # closes the backend connection, even after an overflow
                except ValueError:  # still running in a pump that would not die: its own finally closes it
                    pass
            # A complete reply's pump is left to read the rest of the body, so its connection is reused.
            failure = getattr(self, "failure", None)
            self.exchange.stream.finish(failure=failure, counts=outcome.counts_for_breaker,
                                        close=not outcome.complete)
            final = self._save(outcome, failure)
        finally:
            if self._subscription is not None:
                self.signals.unsubscribe(self._subscription)
            if self.leases is not None:
                self.leases.release(self)
            self.ticket.release()
        if final is not None and not self.detached:
            self.out.put(final)
        self.out.put(_END)

    def _save(self, outcome, failure):
        tail = self.chunk_log.close() if self.chunk_log is not None else None
        self.metrics.reply_ended(outcome.stop_reason)
        try:
            stored = self.exchange.save(self.reply.parts, self.reply.metadata, outcome, tail)
        except Exception:  # the database may be down; the client gets a clean error
            log.exception("could not store the reply", extra={"trace_id": self._trace_id})
            return self._error_line(INTERNAL_ERROR, "the reply could not be stored")
        if not stored:
            # Ended elsewhere first (its lease lapsed while this worker stalled, or a stop won the race):
            # the stored message is that party's, so this client must not be told `complete`.
            log.warning("reply %s was ended elsewhere before it could be stored", self.message_id,
                        extra={"trace_id": self._trace_id})
            return self._error_line(INTERNAL_ERROR, "the reply was ended elsewhere before it could be stored; "
                                    "its stored state (metadata.stop_reason) says why")
        if self.after_stored is not None:
            self.after_stored(outcome)
        if outcome.complete:
            metadata = replies.end_metadata(self.reply.metadata, outcome.stop_reason)  # as stored
            if self.exchange.variant_info is not None:
                # Not stored: where the new variant stands now. In metadata, as the complete event allows no
                # other properties.
                metadata = {**metadata, "variant_info": self.exchange.variant_info}
            if self.db is not None and self.db.replicas is not None:
                # Where a read must look to see this reply stored (app/replicas.py); the complete event allows
                # no other property.
                metadata = {**metadata, "read_after": self.db.write_position(reserved=True)}
            return ndjson_line({"type": "complete", "message_id": self.exchange.public_message_id,
                                "metadata": metadata})
        if failure is not None and outcome.error_code == failure.error_code:
            log.warning("%s to %s failed: %s", self.exchange.stream.event, self.exchange.target.session_type_id,
                        failure, extra={"trace_id": self._trace_id})
            return self._error_line(failure.error_code, str(failure), failure.details())
        details = {"retry_after_seconds": 1} if outcome is outcomes.SHUTDOWN else None
        if outcome is outcomes.MAX_DURATION:
            details = {"timeout_ms": int(self.exchange.stream.max_seconds * 1000)}
        return self._error_line(outcome.error_code, outcome.message, details)

    def _error_line(self, error_code, message, details=None):
        return error_line(self.exchange.public_message_id, error_code, message, details, self._trace_id)

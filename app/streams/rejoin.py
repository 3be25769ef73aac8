"""Joining a reply from any instance: GET /messages/{id}/stream?offset=N and idempotent retries.

The stored chunks after N come first, then the live ones as their batches are stored (woken by
NOTIFY, re-read from PostgreSQL), then `complete` or `error` once the reply has ended; after the end
it is a replay. The reply's end is stored in the same transaction as its last chunks, so a read that
sees the end sees every chunk: concatenated, the chunks before and after a rejoin are the stored reply.
Each read is a short transaction; no connection is held while waiting.

Memory is bounded whatever the reply's size: each read takes at most READ_BYTES of
chunks (and READ_CHUNKS of them, from READ_BATCHES stored batches), which are written before the next
read, so a rejoiner holds one read, never the reply. A chunk (or, without a chunk log, a content part)
larger than a read is read and written in slices. A client that stops reading is cut after
STREAM_WRITE_TIMEOUT_SECONDS (app/streams/relay.WriteWatch), as on sends.
"""
import json

import gevent.event

from app import ids
from app.db import queries as q
from app.error_codes import INVALID_REQUEST, MESSAGE_NOT_FOUND
from app.errors import trace_id
from app.streams import outcomes
from app.streams.relay import ClientWatcher, WriteWatch, error_line, ndjson_line
from app.webhooks.replies import PART_FIELD

# Without a notice, re-read anyway: often while this worker's listener is down (notices are lost then),
# rarely while it is up (a reconnect wakes every waiter, so a lost notice is the exception).
RECHECK_SECONDS = {True: 10.0, False: 1.0}
# One read: at most this much chunk data (capped by STREAM_BUFFER_LIMIT_BYTES), this many chunks, from
# this many stored batches. Then its lines are written, then the next read.
READ_BYTES = 256 * 1024
READ_CHUNKS = 1000
READ_BATCHES = 64
PAYLOAD_FIELDS = sorted(set(PART_FIELD.values()))


def read_limits(config):
    """Rejoin's keyword arguments from the settings: a read never holds more than the buffer limit."""
    return {"read_bytes": max(1, min(READ_BYTES, config.stream_buffer_limit_bytes)),
            "write_timeout_seconds": config.stream_write_timeout_seconds}


def parts_as_chunks(parts):
    """A reply stored without its chunk log (a summary, a row older than the log) as chunk events."""
    chunks = []
    for part in parts or []:
        field = PART_FIELD.get(part.get("type"))
        if field and isinstance(part.get(field), str):
            chunks.append({"type": part["type"], "content": part[field]})
    return chunks


def offset_expired(db, message_id, offset, chunk_log):
    """Whether `offset` counts chunks of a log the sweep has pruned (an ended reply past
    CHUNK_LOG_GRACE_SECONDS): a replay of the stored message counts content parts instead, so it would not
    continue where the client stopped. Offset 0 and CHUNK_LOG=off (offsets count parts) never expire."""
    if offset == 0 or chunk_log == "off":
        return False
    with db.transaction() as conn:
        return bool(q.chunk_log_gone(conn, message_id=message_id))


class Rejoin:
    def __init__(self, db, signals, message_id, offset=0, headers=None, on_close=None, sock=None,
                 read_bytes=READ_BYTES, write_timeout_seconds=None, session_id=None):
        self.db = db
        self.signals = signals
        self.message_id = message_id
        self.session_id = session_id  # None: looked up by the message's id once, before the first read
        self.public_id = ids.message_gts(message_id)
        self.offset = offset
        self._headers = headers or {}
        self._on_close = on_close
        self._sock = sock  # the client's socket: a rejoiner that leaves is noticed while nothing is written
        self._read_bytes = read_bytes
        self._write_timeout_seconds = write_timeout_seconds
        self._writes = None
        self._chunk_head = ('{"type":"chunk","message_id":' + json.dumps(self.public_id) + ',"chunk":').encode()
        self._trace_id = trace_id()
        self._logged = False  # a read found the reply's chunk log

    def headers(self):
        return {"X-Assistant-Message-Id": self.public_id, **self._headers}

    def _release(self):
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def close(self):
        """The response's close hook (also when the generator never started)."""
        if self._writes is not None:
            self._writes.stop()
        self._release()

    def lines(self):
        writes = self._writes = WriteWatch(self._sock, self._write_timeout_seconds)
        woken = gevent.event.Event()
        subscription = self.signals.subscribe(self.message_id, lambda kind: woken.set()) \
            if self.signals is not None else None
        gone = []
        watcher = ClientWatcher(self._sock, lambda: (gone.append(True), woken.set()))
        finished = False
        try:
            yield from writes.send(ndjson_line({"type": "start", "message_id": self.public_id}))
            yield from self._events(writes, woken, gone)
            finished = True
        finally:
            watcher.stop()
            if subscription is not None:
                self.signals.unsubscribe(subscription)
            if finished:
                writes.finishing()  # the server still writes the response's end
            else:
                writes.stop()
            self._release()

    def _events(self, writes, woken, gone):
        sent = self.offset
        more = False  # the last read left chunks for the next one: read on at once
        while not gone:
            if not more:
                woken.clear()
            with self.db.transaction() as conn:
                if self.session_id is None:
                    self.session_id = q.session_of_message(conn, id=self.message_id)
                if not more:  # announce its chunks and end to us
                    q.watch_live_reply(conn, session_id=self.session_id, message_id=self.message_id)
                state = q.reply_state(conn, session_id=self.session_id, message_id=self.message_id, offset=sent,
                                      max_batches=READ_BATCHES,
                                      max_chunks=READ_CHUNKS, max_bytes=self._read_bytes)
            if state is None:
                yield from writes.send(self._deleted())
                return
            if self._logged and not state["has_chunks"] and not state["live"]:
                yield from writes.send(self._log_expired())  # pruned between two reads: the units changed
                return
            self._logged = self._logged or state["has_chunks"]
            chunks = state.pop("chunks")
            more = state["more"] and bool(chunks)  # (an empty read that says more would loop: never expected)
            for position, chunk in enumerate(chunks):
                chunks[position] = None  # written: not held any longer
                yield from self._chunk_lines(writes, chunk, sent)
                sent += 1
            del chunks
            if more:
                continue
            if not state["live"]:
                if not state["has_chunks"] and not (yield from self._replay_parts(writes, sent)):
                    yield from writes.send(self._deleted())
                    return
                yield from writes.send(self._final(state))
                return
            woken.wait(timeout=RECHECK_SECONDS[bool(self.signals and self.signals.connected)])

    def _chunk_lines(self, writes, chunk, index):
        """One chunk event. Read without its content (larger than a read): the content in slices."""
        if "content" in chunk:
            yield from writes.send(self._chunk_head + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False)
                                   .encode() + b"}\n")
            return

        def read_slice(start, length):
            with self.db.transaction() as conn:
                return q.reply_chunk_slice(conn, session_id=self.session_id, message_id=self.message_id, index=index,
                                           start=start, length=length)
        yield from self._sliced_lines(writes, chunk, read_slice)

    def _replay_parts(self, writes, sent):
        """A reply stored without its chunk log: its content parts as chunk events, from chunk `sent` on, a
        bounded read of parts at a time. False when the message is gone."""
        after = index = 0
        # The reply ended on the primary: a replica serves its pages once it has replayed that far.
        replayed_to = self.db.write_position() if self.db.replicas is not None else None
        while True:
            with self.db.read(after=replayed_to) as conn:
                page = q.reply_parts_page(conn, session_id=self.session_id, message_id=self.message_id, after=after,
                                          max_parts=READ_CHUNKS, max_bytes=self._read_bytes,
                                          payload_fields=PAYLOAD_FIELDS)
            if page is None:
                return False
            parts = page["parts"]
            for position, part in enumerate(parts):
                parts[position] = None
                after += 1
                field = PART_FIELD.get(part.get("type"))
                if field is None:
                    continue
                if field in part:  # read whole
                    if not isinstance(part[field], str):
                        continue
                    chunk = {"type": part["type"], "content": part[field]}
                    if index >= sent:
                        yield from self._chunk_lines(writes, chunk, index)
                    index += 1
                    continue

                def read_slice(start, length, ordinal=after, field=field):
                    with self.db.read(after=replayed_to) as conn:
                        return q.reply_part_slice(conn, session_id=self.session_id, message_id=self.message_id,
                                                  ordinal=ordinal, field=field, start=start, length=length)
                if index >= sent:
                    yield from self._sliced_lines(writes, {"type": part["type"]}, read_slice)
                index += 1
            if not page["more"] or not parts:
                return True
            del parts

    def _sliced_lines(self, writes, chunk, read_slice):
        """A chunk event whose content is read and written a slice at a time (a read's worth of characters)."""
        head = json.dumps(chunk, separators=(",", ":"), ensure_ascii=False)[:-1]
        yield from writes.send(self._chunk_head + (head + ',"content":"').encode())
        length = max(1, self._read_bytes)  # characters (1 to 4 bytes each): few slices, each a whole read server-side
        start = 1
        while True:
            piece = read_slice(start, length)
            if piece:
                yield from writes.send(json.dumps(piece, ensure_ascii=False)[1:-1].encode())
            if piece is None or len(piece) < length:
                break
            start += length
        yield from writes.send(b'"}}\n')

    def _log_expired(self):
        return error_line(self.public_id, INVALID_REQUEST, "the reply's chunk log expired while it was read: "
                          "read the stored message (GET /messages/{id}) or rejoin from offset 0",
                          trace=self._trace_id)

    def _deleted(self):
        return error_line(self.public_id, MESSAGE_NOT_FOUND, "the message was deleted", trace=self._trace_id)

    def _final(self, state):
        metadata = dict(state["metadata"] or {})
        if state["is_complete"]:
            if self.db.replicas is not None:
                # Where a read must look to see the reply as stored (as a send's complete line says).
                metadata["read_after"] = self.db.write_position()
            return ndjson_line({"type": "complete", "message_id": self.public_id, "metadata": metadata})
        outcome = outcomes.for_stored(metadata.get("stop_reason"))
        return error_line(self.public_id, outcome.error_code, outcome.message, trace=self._trace_id)

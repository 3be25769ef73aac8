"""Joining a reply from any instance: GET /messages/{id}/stream?offset=N and idempotent retries.

The stored chunks after N come first, then the live ones as their batches are stored (woken by
NOTIFY, re-read from PostgreSQL), then `complete` or `error` once the reply has ended; after the end
it is a replay. The reply's end is stored in the same transaction as its last chunks, so a read that
sees the end sees every chunk: concatenated, the chunks before and after a rejoin are the stored reply.
Each read is a short transaction; no connection is held while waiting.
"""
import uuid

import gevent.event
from flask import has_request_context

from app import ids, outcomes
from app.db import queries as q
from app.errors import trace_id
from app.relay import ClientWatcher, error_line, ndjson_line
from app.webhooks.replies import PART_FIELD

# Without a notice, re-read anyway: often while this worker's listener is down (notices are lost then),
# rarely while it is up (a reconnect wakes every waiter, so a lost notice is the exception).
RECHECK_SECONDS = {True: 10.0, False: 1.0}


def parts_as_chunks(parts):
    """A reply stored without its chunk log (a summary, a row older than the log) as chunk events."""
    chunks = []
    for part in parts or []:
        field = PART_FIELD.get(part.get("type"))
        if field and isinstance(part.get(field), str):
            chunks.append({"type": part["type"], "content": part[field]})
    return chunks


class Rejoin:
    def __init__(self, db, signals, message_id, offset=0, headers=None, on_close=None, sock=None):
        self.db = db
        self.signals = signals
        self.message_id = message_id
        self.public_id = ids.message_gts(message_id)
        self.offset = offset
        self._headers = headers or {}
        self._on_close = on_close
        self._sock = sock  # the client's socket: a rejoiner that leaves is noticed while nothing is written
        self._trace_id = trace_id() if has_request_context() else uuid.uuid4().hex

    def headers(self):
        return {"X-Assistant-Message-Id": self.public_id, **self._headers}

    def attach(self, sock, on_close):
        """For a Rejoin made before its response: the client's socket, and what to do at the end."""
        self._sock = sock
        self._on_close = on_close

    def close(self):
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def lines(self):
        yield ndjson_line({"type": "start", "message_id": self.public_id})
        woken = gevent.event.Event()
        subscription = self.signals.subscribe(self.message_id, lambda kind: woken.set()) \
            if self.signals is not None else None
        gone = []
        watcher = ClientWatcher(self._sock, lambda: (gone.append(True), woken.set()))
        sent = self.offset
        try:
            while not gone:
                woken.clear()
                with self.db.transaction() as conn:
                    q.watch_live_reply(conn, message_id=self.message_id)  # announce its chunks and end to us
                    state = q.reply_state(conn, message_id=self.message_id, offset=sent)
                if state is None:
                    yield error_line(self.public_id, "MESSAGE_NOT_FOUND", "the message was deleted",
                                     trace=self._trace_id)
                    return
                for chunk in self._chunks_after(state, sent):
                    yield ndjson_line({"type": "chunk", "message_id": self.public_id, "chunk": chunk})
                    sent += 1
                if not state["live"]:
                    yield self._final(state)
                    return
                woken.wait(timeout=RECHECK_SECONDS[bool(self.signals and self.signals.connected)])
        finally:
            watcher.stop()
            if subscription is not None:
                self.signals.unsubscribe(subscription)
            self.close()

    @staticmethod
    def _chunks_after(state, sent):
        if not state["has_chunks"]:
            return [] if state["live"] else parts_as_chunks(state["content"])[sent:]
        chunks = []
        for batch in state["batches"]:
            chunks += batch["chunks"][max(0, sent - batch["first_index"]):]
        return chunks

    def _final(self, state):
        metadata = dict(state["metadata"] or {})
        if state["is_complete"]:
            return ndjson_line({"type": "complete", "message_id": self.public_id, "metadata": metadata})
        outcome = outcomes.for_stored(metadata.get("stop_reason"))
        return error_line(self.public_id, outcome.error_code, outcome.message, trace=self._trace_id)

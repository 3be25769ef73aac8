"""Batched persistence of a reply's chunk events, so any instance can replay or continue it.

Chunks are written at most every CHUNK_FLUSH_SECONDS, in one short transaction per batch that also
wakes the listeners of other instances (NOTIFY "<id>:chunks"). A reply shorter than that interval
costs no extra round trip: its chunks travel with the transaction that stores the finished reply
(`close()` hands them over). No connection is held between batches. With no interval (CHUNK_LOG=end)
every chunk waits for the end.

Chunks are stored as rows of bounded size (app.chat.replies.chunk_rows).
"""
import logging

import gevent
import gevent.lock

from app.chat.replies import chunk_rows
from app.db import queries as q

log = logging.getLogger(__name__)


class ChunkLog:
    def __init__(self, db, session_id, message_id, interval):
        self.db = db
        self.session_id = session_id
        self.message_id = message_id
        self.interval = interval
        self.pending = []
        self.flushed = 0  # chunks already stored: the index of the first pending one
        self.closed = False
        self._scheduled = None
        self._writing = gevent.lock.Semaphore()

    def add(self, chunk):
        self.pending.append(chunk)
        if self._scheduled is None and not self.closed and self.interval is not None:
            self._schedule()

    def _schedule(self):
        # A bare timer, not a greenlet: most replies end before it fires, and cancelling it is free.
        self._scheduled = gevent.get_hub().loop.timer(self.interval)
        self._scheduled.start(gevent.spawn, self._flush)

    def _flush(self):
        self._scheduled = None  # from here on close() waits for this flush instead of killing it
        with self._writing:
            if self.closed or not self.pending:
                return
            batch = list(self.pending)
            try:
                with self.db.transaction() as conn:
                    q.append_reply_chunks(conn, session_id=self.session_id, message_id=self.message_id,
                                          batches=chunk_rows(self.flushed, batch))
            except Exception as exc:  # noqa: BLE001 - the batch stays pending; the final save stores it
                log.warning("could not store chunks of %s: %s", self.message_id, exc)
                return
            del self.pending[:len(batch)]
            self.flushed += len(batch)
        if self.pending and not self.closed:
            self._schedule()

    def close(self):
        """No more flushes; waits for one in progress. Returns (first index, chunks not yet stored)."""
        self.closed = True
        if self._scheduled is not None:
            self._scheduled.close()  # not fired yet: a flush that started is waited for below
        with self._writing:
            return self.flushed, list(self.pending)

"""The change feed's stream (GET /api/v1/events): NDJSON for as long as the client stays, from any instance.

A `feed` line first, with the cursor the stream starts from; then each event, with the cursor after it; a
`heartbeat` (with the current cursor) after HEARTBEAT_SECONDS of quiet, so that proxies keep the connection
and a vanished client is noticed. Each read is a short transaction; no connection is held while waiting,
woken by the client's NOTIFY (app/streams/wakeups.py) or, without one, re-reading every heartbeat. Events of
a transaction that an older, still running one holds back are re-read soon (PENDING_RECHECK_SECONDS).
"""
import time
import weakref

import gevent.event

from app.chat import feed
from app.streams.relay import ClientWatcher, WriteWatch, ndjson_line

HEARTBEAT_SECONDS = 15.0
PENDING_RECHECK_SECONDS = 0.2
STILL_FOLLOWING_SECONDS = 60.0

_open_feeds = weakref.WeakSet()  # this worker's feed streams


def end_feeds_for_shutdown():
    """On SIGTERM: every feed stream ends now (nothing of it needs saving); its client reconnects with its
    last cursor, to another instance."""
    for stream in list(_open_feeds):
        stream.end()


class FeedStream:
    def __init__(self, db, signals, client_id, place, on_close=None, sock=None, write_timeout_seconds=None):
        self.db = db
        self.signals = signals
        self.client_id = client_id
        self.place = place
        self._on_close = on_close
        self._sock = sock
        self._write_timeout_seconds = write_timeout_seconds
        self._writes = None
        self._woken = gevent.event.Event()
        self._ended = False

    def end(self):
        self._ended = True
        self._woken.set()

    def close(self):
        if self._writes is not None:
            self._writes.stop()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def lines(self):
        writes = self._writes = WriteWatch(self._sock, self._write_timeout_seconds)
        woken = self._woken
        _open_feeds.add(self)
        subscription = self.signals.subscribe(feed.feed_key(self.client_id), lambda kind: woken.set()) \
            if self.signals is not None else None
        gone = []
        watcher = ClientWatcher(self._sock, lambda: (gone.append(True), woken.set()))
        try:
            yield from writes.send(ndjson_line({"type": "feed", "cursor": self.place.cursor}))
            followed_at = time.monotonic()
            while not gone and not self._ended:
                woken.clear()
                events, self.place, pending = feed.read(self.db, self.client_id, self.place)
                for event in events:
                    yield from writes.send(ndjson_line(event))
                if pending:
                    woken.wait(timeout=PENDING_RECHECK_SECONDS)
                    continue
                if not events and not woken.wait(timeout=HEARTBEAT_SECONDS) and not gone and not self._ended:
                    yield from writes.send(ndjson_line({"type": "heartbeat", "cursor": self.place.cursor}))
                if time.monotonic() - followed_at > STILL_FOLLOWING_SECONDS:
                    feed.still_following(self.db, self.client_id)
                    followed_at = time.monotonic()
        finally:
            _open_feeds.discard(self)
            watcher.stop()
            if subscription is not None:
                self.signals.unsubscribe(subscription)
            writes.stop()
            self.close()

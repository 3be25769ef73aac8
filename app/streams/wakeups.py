"""Cross-instance wake-ups through PostgreSQL alone: LISTEN/NOTIFY (ADR-0010).

One listening connection per worker, outside the pool and shared by every stream of the worker, so
open streams hold no connection. The channel and the payload are spelled once, by notify_reply() and
reply_channel() in sql/functions/live_replies.sql. Payloads are "<message uuid>:<kind>":
`chunks` (a batch was stored), `end` (the reply ended), `stop:<reason>` (stop it, wherever it streams).
`chunks` and `end` are sent only for replies someone waits on (live_replies.watched, set by a rejoiner
or a stop before it waits; sql/migrations/006): each notice costs every listening worker a wake-up.
A notice is only a hint: waiters always re-read the database, and re-read it after the listener
reconnects (a database restart loses notices), so a lost notice delays, never loses, anything.
"""
import itertools
import logging
import time
import uuid

import gevent
import psycopg

log = logging.getLogger(__name__)

RESYNC = "resync"
APPLICATION_NAME = "chat-engine-listener"  # how operators (and tests) find these connections
# With the worker's owner key, the session-level advisory lock that says "this worker is alive":
# PostgreSQL drops it when the connection dies with the process, and whoever finds a reply of
# this worker in its way ends the reply at once (sql/migrations/012_reply_owners.sql).
OWNER_LOCK_CLASS = 4242002
# A missing lock is not yet a dead worker: a listener reconnecting after a blip, or every listener after a
# failover, holds none for a moment. A reply's owner is judged gone only when its lock is missing twice,
# OWNER_CONFIRM_SECONDS apart, and only by a worker whose own lock has been held OWNER_SETTLE_SECONDS
# (after a failover or a restart, the others are taking theirs again meanwhile).
OWNER_CONFIRM_SECONDS = 1.0
OWNER_SETTLE_SECONDS = 2.0
UNLOCKED_RETRY_SECONDS = 1.0  # how soon a listener that could not take its lock tries again


class Signals:
    def __init__(self, database_url, connect_timeout=3, health_seconds=5, owner_key=None):
        self._url = database_url
        self.owner_key = owner_key
        self.owner_locked = False
        self._locked_at = 0.0  # time.monotonic() when the lock was taken
        self._connect_timeout = connect_timeout
        self._health_seconds = health_seconds
        self._subscribers = {}  # message uuid -> {token: callback}
        self._tokens = itertools.count()
        self._greenlet = None
        self.connected = False
        self.connections = 0  # how many times the listener (re)connected

    def start(self):
        if self._greenlet is None and self._url:
            self._greenlet = gevent.spawn(self._run)

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def subscribe(self, message_id, callback):
        """`callback(kind)` runs in the listener's greenlet: it must not block."""
        self.start()
        token = (uuid.UUID(str(message_id)), next(self._tokens))
        self._subscribers.setdefault(token[0], {})[token] = callback
        return token

    def unsubscribe(self, token):
        callbacks = self._subscribers.get(token[0])
        if callbacks is not None:
            callbacks.pop(token, None)
            if not callbacks:
                self._subscribers.pop(token[0], None)

    def _dispatch(self, payload):
        message_id, _, kind = payload.partition(":")
        try:
            key = uuid.UUID(message_id)
        except ValueError:
            return
        for callback in list(self._subscribers.get(key, {}).values()):
            self._call(callback, kind)

    def _wake_all(self):
        for callbacks in list(self._subscribers.values()):
            for callback in list(callbacks.values()):
                self._call(callback, RESYNC)

    @staticmethod
    def _call(callback, kind):
        try:
            callback(kind)
        except Exception:  # one subscriber's bug must not stop the listener
            log.exception("signal subscriber failed")

    def judges_owners(self):
        """Whether this worker may end other workers' replies because their lock is missing."""
        return self.owner_locked and time.monotonic() - self._locked_at >= OWNER_SETTLE_SECONDS

    def _lock_owner_key(self, conn, first_try):
        """Take the lock; retried every UNLOCKED_RETRY_SECONDS while someone else holds it (a session of
        this worker's that the server has not yet seen die, or another worker that drew the same key)."""
        if self.owner_key is None or self.owner_locked:
            return
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (OWNER_LOCK_CLASS, self.owner_key)).fetchone()
        self.owner_locked = bool(row[0])
        if self.owner_locked:
            self._locked_at = time.monotonic()
        elif first_try:
            log.warning("owner key %s is held by another session; retrying (replies here end by their lease "
                        "meanwhile)", self.owner_key)

    def _health_wait(self):
        return self._health_seconds if self.owner_locked or self.owner_key is None else UNLOCKED_RETRY_SECONDS

    def _run(self):
        delay = 0.1
        while True:
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout,
                                     application_name=APPLICATION_NAME) as conn:
                    channel = conn.execute("SELECT reply_channel()").fetchone()[0]  # sql/functions/live_replies.sql
                    conn.execute(f"LISTEN {channel}")
                    self._lock_owner_key(conn, first_try=True)
                    self.connected = True
                    self.connections += 1
                    delay = 0.1
                    self._wake_all()  # notices sent while we were away are lost: everyone re-reads
                    while True:
                        for notice in conn.notifies(timeout=self._health_wait()):
                            self._dispatch(notice.payload)
                        conn.execute("SELECT 1")  # a dead server is noticed here, not never
                        self._lock_owner_key(conn, first_try=False)
            except Exception as exc:  # noqa: BLE001 - reconnect whatever broke
                if self.connected:
                    log.warning("signal listener lost its connection: %s", exc)
                self.connected = False
                self.owner_locked = False
                self._wake_all()
                gevent.sleep(delay)
                delay = min(delay * 2, 1)  # this worker's replies look abandoned while it is away

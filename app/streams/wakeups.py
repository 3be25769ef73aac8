"""Cross-instance wake-ups through PostgreSQL alone: LISTEN/NOTIFY (ADR-0010).

One listening connection per worker, outside the pool and shared by every stream of the worker, so
open streams hold no connection. The channel and the payload are spelled once, by notify_reply() and
reply_channel() in sql/functions/live_replies.sql. Payloads are "<message uuid>:<kind>":
`chunks` (a batch was stored), `end` (the reply ended), `stop:<reason>` (stop it, wherever it streams).
`chunks` and `end` are sent only for replies someone waits on (live_replies.watched, set by a rejoiner
or a stop before it waits; sql/migrations/006): each notice costs every listening worker a wake-up.
A notice is only a hint: waiters always re-read the database, and re-read it after the listener
reconnects (a database restart loses notices), so a lost notice delays, never loses, anything.

The listening connection also holds the worker's owner lock (app/db.py), the one that says the worker is
alive when the worker reaches PostgreSQL through a transaction pooler (its pooled connections cannot).
"""
import itertools
import logging
import uuid

import gevent
import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.db import OWNER_LOCK_CLASS, TAKE_OWNER_LOCK

log = logging.getLogger(__name__)

RESYNC = "resync"
APPLICATION_NAME = "chat-engine-listener"  # how operators (and tests) find these connections
# A missing lock is not yet a dead worker: a worker whose listener reconnects after a blip, and whose pooled
# connections are all gone (or that sits behind a transaction pooler), holds none for a moment. A reply's
# owner is judged gone only when its lock is missing twice, OWNER_CONFIRM_SECONDS apart. After a failover
# or a restart nobody judges until every worker had time to reconnect (OWNER_SETTLE_SECONDS, checked by
# the server: sql/functions/live_replies.sql).
OWNER_CONFIRM_SECONDS = 1.0
# A server that stops answering without closing the socket (frozen, partitioned) is noticed within
# HEALTH_SECONDS + PROBE_SECONDS: the listener then dials again, and with a multi-host URL reaches the
# promoted standby well within OWNER_SETTLE_SECONDS, so this worker is not taken for dead there.
HEALTH_SECONDS = 2.0
PROBE_SECONDS = 2.0


class ListenerSilent(Exception):
    """The server did not answer the listener in time."""

    def __init__(self):
        super().__init__(f"no answer within {PROBE_SECONDS:g} s")


def reattach_seconds(connect_timeout, hosts):
    """The longest a listener takes to reach a server once it has been promoted: a second of backoff, the
    connect timeout on each other host (all hung at worst), then the connect and its first statements.
    Noticing the old server died (at once when it closes its sockets, within HEALTH_SECONDS + PROBE_SECONDS
    when it hangs) happens before: a standby is promoted only after the old primary was seen gone.
    OWNER_SETTLE_SECONDS must be above it."""
    return 1 + (hosts - 1) * connect_timeout + PROBE_SECONDS


class Signals:
    def __init__(self, database_url, connect_timeout=3, owner_key=None, owner_settle_seconds=None):
        self._url = database_url
        self.owner_key = owner_key
        self.owner_locked = False
        # Seconds this server's workers must have been attached before this one judges others' replies
        # (None: never, as in a process with no owner key).
        self.judge_settle = owner_settle_seconds if owner_key is not None else None
        if self.judge_settle is not None and database_url:
            hosts = conninfo_to_dict(database_url).get("host", "").count(",") + 1
            needed = reattach_seconds(connect_timeout, hosts)
            if self.judge_settle < needed:
                log.warning("OWNER_SETTLE_SECONDS=%g is below the %g s a listener may need to reach a promoted "
                            "server (%d hosts, DB_CONNECT_TIMEOUT_SECONDS=%g): after a failover, live replies of "
                            "workers still reconnecting may be ended", self.judge_settle, needed, hosts,
                            connect_timeout)
        self._connect_timeout = connect_timeout
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

    def _lock_owner_key(self, conn):
        if self.owner_key is not None:
            locked = self._bounded(conn, TAKE_OWNER_LOCK, (OWNER_LOCK_CLASS, self.owner_key)).fetchone()[0]
            self.owner_locked = bool(locked)

    @staticmethod
    def _bounded(conn, sql, params=None):
        """One statement, given up after PROBE_SECONDS: a dead or frozen server is noticed here, not never."""
        try:
            with gevent.Timeout(PROBE_SECONDS, ListenerSilent):
                return conn.execute(sql, params)  # the result is read whole before this returns
        except ListenerSilent:
            conn.close()  # no rollback sent to a server that does not answer
            raise

    def _run(self):
        delay = 0.1
        while True:
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout,
                                     application_name=APPLICATION_NAME) as conn:
                    # The channel's one spelling is sql/functions/live_replies.sql.
                    channel = self._bounded(conn, "SELECT reply_channel()").fetchone()[0]
                    self._bounded(conn, f"LISTEN {channel}")
                    self._lock_owner_key(conn)
                    self.connected = True
                    self.connections += 1
                    delay = 0.1
                    self._wake_all()  # notices sent while we were away are lost: everyone re-reads
                    while True:
                        for notice in conn.notifies(timeout=HEALTH_SECONDS):
                            self._dispatch(notice.payload)
                        self._bounded(conn, "SELECT 1")
            except Exception as exc:  # noqa: BLE001 - reconnect whatever broke
                if self.connected:
                    log.warning("signal listener lost its connection: %s", exc)
                self.connected = False
                self.owner_locked = False
                self._wake_all()
                gevent.sleep(delay)
                delay = min(delay * 2, 1)  # this worker's replies look abandoned while it is away

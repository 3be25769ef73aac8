"""Read replicas: which server serves a read that needs no lock, and read-your-writes across instances.

A write's response carries the primary's WAL position after its commit (READ_AFTER_HEADER). A read that
presents it is served by a replica once the replica has replayed that far, waiting at most
READ_AFTER_WAIT_SECONDS, else by the primary. A read without one accepts a replica at most
READ_MAX_LAG_SECONDS behind. A replica that cannot be reached, or fails its check, sends this worker's
reads to the primary for READ_REPLICA_RETRY_SECONDS: a replica's trouble costs a little latency, never an
error. What the replica serves is decided per read, from the replica's own view of its replay: no state
about sessions or messages is kept here (ADR-0010).
"""
import logging
import re
import time
from contextlib import contextmanager

import gevent
import psycopg
from psycopg_pool import PoolTimeout, TooManyRequests

from app.db import queries as q

log = logging.getLogger(__name__)

READ_AFTER_HEADER = "X-Chat-Engine-Read-After"
# The token is PostgreSQL's pg_lsn text; documented as opaque, so it may change shape.
_TOKEN = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}", re.IGNORECASE)
# Between two looks at a replica that has not yet replayed a token's position: from the first to the most,
# doubling, so a token the replica will not reach soon (forged far ahead) costs a few statements, not fifty.
POLL_SECONDS = (0.005, 0.1)

def valid_token(value):
    return bool(value) and _TOKEN.fullmatch(value) is not None


class Replicas:
    """The read pool of one worker, and the rule that picks the replica or the primary for each read."""

    def __init__(self, pool, config, metrics):
        self.pool = pool
        self.max_lag = config.read_max_lag_seconds
        self.after_wait = config.read_after_wait_seconds
        self.retry_seconds = config.read_replica_retry_seconds
        # How long a read waits for a replica connection: as briefly as for a database known down, since the
        # primary is there to serve it instead.
        self.connection_wait = min(config.db_outage_wait_seconds, config.db_pool_timeout_seconds)
        self.metrics = metrics
        self._resting_until = 0.0

    @contextmanager
    def connection(self, after):
        """A replica connection fit to serve a read that must see `after` (None: within the lag bound), or
        None: the primary must serve it."""
        conn = self._fit_connection(after)
        if conn is None:
            yield None
            return
        try:
            yield conn
        except psycopg.OperationalError:
            if conn.broken:
                self._rest("lost its connection during a read")
            raise
        finally:
            self.pool.putconn(conn)

    def _fit_connection(self, after):
        if time.monotonic() < self._resting_until:
            return self._to_primary("unavailable")
        try:
            conn = self.pool.getconn(timeout=self.connection_wait)
        except TooManyRequests:
            return self._to_primary("busy")  # this worker's replica pool has a full queue: busy, not down
        except PoolTimeout:
            self._rest("gave no connection")
            return self._to_primary("unavailable")
        try:
            reason = self._unfit_because(conn, after)
        except BaseException as exc:
            self.pool.putconn(conn)
            if not isinstance(exc, psycopg.Error):
                raise  # the request's greenlet killed, a timeout: nothing said about the replica
            self._rest(f"failed its check: {exc}")
            return self._to_primary("unavailable")
        if reason is not None:
            self.pool.putconn(conn)
            return self._to_primary(reason)
        self.metrics.read_served("replica", "caught_up" if after else "fresh")
        return conn

    def _unfit_because(self, conn, after):
        """None when `conn`'s server may serve the read, else why not. A single statement in autocommit (its
        own transaction), repeated while a replica catches up to `after`."""
        deadline = time.monotonic() + self.after_wait
        pause, longest = POLL_SECONDS
        while True:
            position = q.replica_position(conn, after=after)
            if position["primary"]:
                # Not a standby (promoted, or a primary named by mistake): it may have diverged from DATABASE_URL.
                return "not_standby"
            if after is None:
                lag = position["lag_seconds"]
                return None if lag is not None and lag <= self.max_lag else "lagging"
            if position["caught_up"]:
                return None
            if time.monotonic() >= deadline:
                return "behind"
            gevent.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, longest)

    def _to_primary(self, reason):
        self.metrics.read_served("primary", reason)
        return None

    def _rest(self, why):
        if time.monotonic() >= self._resting_until:
            log.warning("read replica %s; reads go to the primary for %.1f s", why, self.retry_seconds)
        self._resting_until = time.monotonic() + self.retry_seconds

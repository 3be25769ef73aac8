"""The connection pool, transactions, and the named-query loader.

Connections run in autocommit mode and every piece of work opens an explicit `transaction()`, so a
connection is never left idle in a transaction and BEGIN/COMMIT are always visible in the code.
Transactions do not use psycopg's pipeline mode: under gevent it cost more than twice the CPU per
transaction of plain statements (its waits poll for read-or-write on a socket that is always
writable), more than the round trips it saves. The hot path saves round trips by combining
statements instead (CTEs with RETURNING), see loadtests/reports.
"""
import contextvars
import logging
import os
import re
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

log = logging.getLogger(__name__)

SQL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sql")
# `-- name: get_session^`: the suffix declares the result once, so no call site chooses it (aiosql's idea).
_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*([$^*!])\s*$")
SHAPES = {
    "^": "one row, or None",
    "*": "every row, as a list",
    "$": "the first column of the one row, or None",
    "!": "no result",
}


class Query:
    """One named statement; call it with a connection and its parameters: `queries.get_session(conn, id=...)`."""

    def __init__(self, name, sql, shape):
        self.name = name
        self.sql = sql
        self.shape = shape

    def __call__(self, conn, /, **params):
        return self._result(conn.execute(self.sql, params))

    def _result(self, cursor):
        if self.shape == "!":
            return None
        if self.shape == "*":
            return cursor.fetchall()
        row = cursor.fetchone()
        if self.shape == "$" and row is not None:
            return next(iter(row.values())) if isinstance(row, dict) else row[0]
        return row

    def __repr__(self):
        return f"<Query {self.name}{self.shape}>"


class Queries:
    """Named SQL statements loaded once from a directory of .sql files: `-- name: x<shape>`, then a
    `-- doc` line, then the statement."""

    def __init__(self, directory):
        self._queries = {}
        for filename in sorted(os.listdir(directory)):
            if filename.endswith(".sql"):
                self._parse(os.path.join(directory, filename))

    def _parse(self, path):
        header, lines = None, []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                stripped = line.strip()
                if re.match(r"^--\s*name:", stripped):
                    match = _NAME.match(stripped)
                    if match is None:
                        raise ValueError(f"{path}: {stripped!r} needs a name and a result shape "
                                         f"suffix, one of {''.join(SHAPES)}")
                    self._store(header, lines, path)
                    header, lines = match.groups(), []
                elif header is not None:
                    lines.append(line)
        self._store(header, lines, path)

    def _store(self, header, lines, path):
        if header is None:
            return
        name, shape = header
        if name in self._queries:
            raise ValueError(f"query {name!r} defined twice ({path})")
        doc = [ln for ln in lines if ln.strip().startswith("--")]
        body = "".join(ln for ln in lines if not ln.strip().startswith("--")).strip().rstrip(";")
        if not doc or not body:
            raise ValueError(f"query {name!r} in {path} needs a one-line doc comment and a body")
        self._queries[name] = Query(name, body, shape)

    def __getattr__(self, name):
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"no SQL query named {name!r}") from None

    def __iter__(self):
        return iter(self._queries.values())


# The production registry. Test and operations checks live apart, in sql/checks (see checks()).
queries = Queries(os.path.join(SQL_DIR, "queries"))


def checks():
    """The invariant checks run by the tests and after load tests; never by the engine itself."""
    return Queries(os.path.join(SQL_DIR, "checks"))


# A reply that already streamed to its client, or a lease that keeps replies alive, is worth waiting
# for longer than a new request, which is better shed early with a 503 its client can retry.
RESERVED_WAIT_SECONDS = 30


# With a worker's owner key, the advisory lock that says "this worker is alive" (the class is spelled
# again in sql/functions/live_replies.sql, which reads the locks). Shared: the worker's listener and each of
# its pooled connections hold it, and PostgreSQL drops it the moment the process dies.
OWNER_LOCK_CLASS = 4242002
# With the lock, TCP keepalives on the server's side: a worker whose machine vanished (no FIN, no RST)
# leaves idle sessions the server would otherwise keep, with their locks, for hours (the kernel default).
TAKE_OWNER_LOCK = ("SELECT pg_try_advisory_lock_shared(%s, %s), set_config('tcp_keepalives_idle', '5', false), "
                   "set_config('tcp_keepalives_interval', '2', false), set_config('tcp_keepalives_count', '3', false)")


def after_commit(conn, hook):
    """Have the Database run its commit hook named `hook` once the transaction `conn` is in commits; a
    rollback drops the mark. How a write wakes this worker's service that acts on it (the notice outbox),
    without every caller threading that service through."""
    marks = conn.__dict__.setdefault(_AFTER_COMMIT, set())
    marks.add(hook)


_AFTER_COMMIT = "_chat_engine_after_commit"


# The write position (a token from app/replicas.py) this request's reads must see; None: any replica within
# READ_MAX_LAG_SECONDS. Set per request by the API layer, read by Database.read() in the request's greenlet
# while the view runs; reset when the request ends, before a streamed body is written, so a stream's own reads
# pass their position explicitly (read(after=...)).
read_after = contextvars.ContextVar("chat_engine_read_after", default=None)
# As read_after: this request writes, so what it reads (its own answer included) comes from the primary.
ON_PRIMARY = "on the primary"


def _reconnect_failed(pool):
    log.warning("pool %s: could not reconnect; the next request will try again", pool.name)


class Database:
    """Owns one worker's pools. Created after fork (the app factory runs inside each gunicorn worker).

    Two pools: the main one serves every request; a small reserved one serves only the final save of
    a streamed reply and the lease renewals that keep replies alive (`transaction(reserved=True)`).
    Under admission pressure new requests queue for the main pool and are shed with 503 when it is
    exhausted, but a reply that has already streamed to its client is still stored: it never queues
    behind the requests that are being shed.
    """

    def __init__(self, config, owner_key=None):
        # The worker's owner key rides in application_name: a live row's default reads it (migration 012).
        self.application_name = f"chat-engine#{owner_key}" if owner_key else "chat-engine"
        # Each pooled connection holds the owner lock too, so the worker looks alive on whichever server its
        # pool reaches, whatever its listener is doing (reconnecting, or stuck on a frozen old primary). Not
        # through a transaction pooler: a session lock would stay on a server connection other clients
        # share, and outlive the worker; there the listener (a direct connection) holds it alone.
        self._owner_key = owner_key if owner_key and not config.behind_pooler else None
        self._outage_wait = min(config.db_outage_wait_seconds, config.db_pool_timeout_seconds)
        self.outage = False  # set by a dead connection, cleared by the next transaction that commits
        self.commit_hooks = {}  # name -> callable, run after a transaction marked with after_commit(conn, name)
        self.pool = self._pool(config, config.database_url, "chat-engine", config.db_pool_min_size,
                               config.db_pool_max_size, config.db_pool_max_waiting, self.application_name)
        # Saves are short and few at a time; their queue holds only saves, so it needs no cap of its own
        # beyond the main pool's (a worker never has more replies in flight than its stream slots).
        self.reserved = self._pool(config, config.database_url, "chat-engine-reserved", 0,
                                   config.db_pool_reserved_size, 0, self.application_name,
                                   timeout=max(config.db_pool_timeout_seconds, RESERVED_WAIT_SECONDS)) \
            if config.db_pool_reserved_size > 0 else None
        # Reads that need no lock, on replicas (DATABASE_READ_URL): `replicas` (app/replicas.py) decides per
        # read whether this pool's server may serve it. No owner lock here: a standby's locks say nothing
        # about the primary, where the live replies are.
        self.read_pool = self._pool(config, config.database_read_url, "chat-engine-read", 0,
                                    config.db_pool_max_size, config.db_pool_max_waiting, self.application_name,
                                    owner_lock=False) if config.database_read_url else None
        self.replicas = None  # set by the app factory when read_pool is

    def _take_owner_lock(self, conn):
        conn.execute(TAKE_OWNER_LOCK, (OWNER_LOCK_CLASS, self._owner_key))

    def _pool(self, config, url, name, min_size, max_size, max_waiting, application_name, timeout=None,
              owner_lock=True):
        kwargs = {"autocommit": True, "row_factory": dict_row, "application_name": application_name,
                  "connect_timeout": config.db_connect_timeout_seconds}
        if config.behind_pooler:
            # Through a transaction pooler each transaction may land on another server connection: a
            # statement prepared on one is missing on the next, or already exists ("_pg3_0").
            kwargs["prepare_threshold"] = None
        return ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout or config.db_pool_timeout_seconds,
            max_waiting=max_waiting,
            # After a failover every connection is dead and the standby may take seconds to be
            # promoted: a lost connection is retried for this long, then the next request that waits
            # starts a fresh attempt, so the reconnect delay never grows past a few seconds.
            reconnect_timeout=config.db_reconnect_timeout_seconds,
            reconnect_failed=_reconnect_failed,
            kwargs=kwargs,
            configure=self._take_owner_lock if owner_lock and self._owner_key is not None else None,
            open=False,
            name=name,
        )

    def _pools(self):
        """The pools on the primary."""
        return [self.pool] + ([self.reserved] if self.reserved is not None else [])

    def _every_pool(self):
        return self._pools() + ([self.read_pool] if self.read_pool is not None else [])

    def open(self):
        # Not waiting: an instance must start (and report not-ready) while the database is down.
        for pool in self._every_pool():
            pool.open(wait=False)

    def close(self):
        for pool in self._every_pool():
            pool.close()

    @contextmanager
    def transaction(self, reserved=False):
        """`reserved=True`: from the reserved pool (a streamed reply's final save), see the class doc."""
        # While the database is known to be down, wait for a connection only briefly: requests fail
        # fast with 503 instead of queueing for the full pool timeout. The pools keep reconnecting
        # in the background, and the first transaction that commits ends the outage.
        wait = self._outage_wait if self.outage else None
        pool = self.reserved if reserved and self.reserved is not None else self.pool
        with pool.connection(timeout=wait) as conn:
            try:
                try:
                    with conn.transaction():
                        yield conn
                finally:
                    marks = conn.__dict__.pop(_AFTER_COMMIT, ())
            except psycopg.errors.ReadOnlySqlTransaction:
                # A server that was primary and is not any more (demoted after a failover) still answers,
                # so its connections never look broken: replace every one of them (drain: the idle ones
                # now, those in use when they come back), dialling the server that accepts writes.
                self.outage = True
                for each in self._pools():
                    each.drain()
                raise
            except psycopg.OperationalError:
                if conn.broken:
                    self.outage = True
                    for each in self._pools():
                        each.check()  # drop every dead connection now, not one per request
                raise
        self.outage = False
        for name in marks:
            hook = self.commit_hooks.get(name)
            if hook is not None:
                hook()

    @contextmanager
    def read(self, after=None):
        """A transaction for reads that need no lock: on a replica when one is configured and may serve this
        request (app/replicas.py), else as transaction() on the primary. `after`: a write position the read
        must see, instead of the request's own token."""
        after = after or read_after.get()
        if self.replicas is not None and after is not ON_PRIMARY:
            with self.replicas.connection(after) as conn:
                if conn is not None:
                    with conn.transaction():
                        yield conn
                    return
        with self.transaction() as conn:
            yield conn

    def write_position(self, reserved=False):
        """The token a write's response carries (app/replicas.py): the primary's WAL position now, after the
        write committed; only asked when replicas are configured. One statement, its own transaction. None
        when the primary cannot say now: the write stands, and the next read is served within the lag bound."""
        pool = self.reserved if reserved and self.reserved is not None else self.pool
        try:
            with pool.connection(timeout=self._outage_wait if self.outage else None) as conn:
                return queries.write_position(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("no read-after token for this write: %s", exc)
            return None

    def ping(self):
        with self.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    def stats(self):
        return self.pool.get_stats()

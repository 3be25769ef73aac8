"""The connection pool, transactions, and the named-query loader.

Connections run in autocommit mode and every piece of work opens an explicit `transaction()`, so a
connection is never left idle in a transaction and BEGIN/COMMIT are always visible in the code.
Transactions run in pipeline mode: BEGIN travels with the first statement, and COMMIT with the last
one when its result is not fetched (`execute`), saving two round trips per transaction.
"""
import logging
import os
import re
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

SQL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sql")
_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$")


class Queries:
    """Named SQL statements loaded once from sql/queries/*.sql (`-- name: x` then a `-- doc` line)."""

    def __init__(self, directory):
        self._sql = {}
        for filename in sorted(os.listdir(directory)):
            if filename.endswith(".sql"):
                self._parse(os.path.join(directory, filename))

    def _parse(self, path):
        name, lines = None, []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                match = _NAME.match(line.strip())
                if match:
                    self._store(name, lines, path)
                    name, lines = match.group(1), []
                elif name is not None:
                    lines.append(line)
        self._store(name, lines, path)

    def _store(self, name, lines, path):
        if name is None:
            return
        if name in self._sql:
            raise ValueError(f"query {name!r} defined twice ({path})")
        doc = [ln for ln in lines if ln.strip().startswith("--")]
        body = "".join(ln for ln in lines if not ln.strip().startswith("--")).strip().rstrip(";")
        if not doc or not body:
            raise ValueError(f"query {name!r} in {path} needs a one-line doc comment and a body")
        self._sql[name] = body

    def __getattr__(self, name):
        try:
            return self._sql[name]
        except KeyError:
            raise AttributeError(f"no SQL query named {name!r}") from None


queries = Queries(os.path.join(SQL_DIR, "queries"))


def fetch_one(conn, sql, /, **params):
    return conn.execute(sql, params).fetchone()


def fetch_all(conn, sql, /, **params):
    return conn.execute(sql, params).fetchall()


def execute(conn, sql, /, **params):
    """Queue a statement without waiting for it: in pipeline mode it is sent with what follows
    (typically COMMIT); its errors surface when the transaction ends."""
    conn.execute(sql, params)


class Database:
    """Owns one worker's pool. Created after fork (the app factory runs inside each gunicorn worker)."""

    def __init__(self, config):
        self._outage_wait = min(config.db_outage_wait_seconds, config.db_pool_timeout_seconds)
        self.outage = False  # set by a dead connection, cleared by the next transaction that commits
        self.pool = ConnectionPool(
            config.database_url,
            min_size=config.db_pool_min_size,
            max_size=config.db_pool_max_size,
            timeout=config.db_pool_timeout_seconds,
            max_waiting=config.db_pool_max_waiting,
            kwargs={"autocommit": True, "row_factory": dict_row,
                    "connect_timeout": config.db_connect_timeout_seconds},
            open=False,
            name="chat-engine",
        )

    def open(self):
        # Not waiting: an instance must start (and report not-ready) while the database is down.
        self.pool.open(wait=False)

    def close(self):
        self.pool.close()

    @contextmanager
    def transaction(self):
        # While the database is known to be down, wait for a connection only briefly: requests fail
        # fast with 503 instead of queueing for the full pool timeout. The pool keeps reconnecting
        # in the background, and the first transaction that commits ends the outage.
        wait = self._outage_wait if self.outage else None
        with self.pool.connection(timeout=wait) as conn:
            try:
                with conn.pipeline(), conn.transaction():
                    yield conn
            except psycopg.OperationalError:
                if conn.broken:
                    self.outage = True
                    self.pool.check()  # drop every dead connection now, not one per request
                raise
        self.outage = False

    def ping(self):
        with self.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    def stats(self):
        return self.pool.get_stats()

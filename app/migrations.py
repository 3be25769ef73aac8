"""Schema migrations: sql/migrations/NNN_*.sql applied in order, once each, recorded in a table.

Migrations (tables, constraints, data) run once each. SQL functions have one source, sql/functions/*.sql,
applied with CREATE OR REPLACE after the migrations on every upgrade, in the same transaction: changing a
function is an edit there, not a new migration copying it (a change of its arguments or result type still
needs a migration that drops it first).
Safe to run from several replicas at once: an advisory lock lets one apply while
the others wait.
A migration may rewrite a large table, and the replicas waiting for it hear nothing meanwhile: neither
is a hung server, so DB_SILENCE_SECONDS is lifted while migrations run (app.gevent_wait).

Every migration from 026 on must work on both layouts of the per-session tables: plain, and hash-partitioned by
session (`partition`, docs/partitioning.md). A partitioned table takes no exclusion constraint or storage setting
of its own (its partitions do), and every unique key must hold session_id.

Numbers 009 and 011 were never used (drafts folded into their neighbours before landing). Leave the gaps:
a database that applied 010 would apply a new 009 after it, out of the order its author assumed.
"""
import os

import psycopg

from app.db import SQL_DIR
from app.gevent_wait import silence_allowed

MIGRATIONS_DIR = os.path.join(SQL_DIR, "migrations")
FUNCTIONS_DIR = os.path.join(SQL_DIR, "functions")
LOCK_KEY = 4_242_001  # any constant shared by every instance
CONNECT_TIMEOUT = 10


def available():
    return sorted(f for f in os.listdir(MIGRATIONS_DIR) if f.endswith(".sql") and f[:3].isdigit())


def functions():
    return sorted(f for f in os.listdir(FUNCTIONS_DIR) if f.endswith(".sql"))


def upgrade(database_url, partitions=None):
    """Apply what is missing, then every function definition; returns the migration versions applied now. With
    `partitions`, the per-session tables not partitioned yet are then converted (`partition`)."""
    applied_now = []
    # The silence limit is lifted, not the connect timeout: a hung server still fails the job.
    with silence_allowed(), psycopg.connect(database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            # One transaction for the missing migrations and every function file: a migration that drops or
            # changes a function, and the files that define it again, commit together. Serving replicas never
            # see a schema without the functions their statements call, and a failed upgrade changes nothing.
            with conn.transaction():
                conn.execute("SET LOCAL check_function_bodies = off")  # files may name each other
                for filename in available():
                    version = filename[:-4]
                    if version in done:
                        continue
                    with open(os.path.join(MIGRATIONS_DIR, filename), encoding="utf-8") as handle:
                        conn.execute(handle.read())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                    applied_now.append(version)
                for filename in functions():
                    with open(os.path.join(FUNCTIONS_DIR, filename), encoding="utf-8") as handle:
                        conn.execute(handle.read())
            if partitions:
                _partition(conn, partitions)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


def partition(database_url, partitions):
    """Convert the per-session tables into `partitions` hash partitions by session_id, in one transaction (the
    schema upgraded first); returns the tables converted now (none when they already were)."""
    upgrade(database_url)
    with silence_allowed(), psycopg.connect(database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            return _partition(conn, partitions)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def _partition(conn, partitions):
    with conn.transaction():
        return [row[0] for row in conn.execute("SELECT partition_by_session(%s)", (partitions,))]

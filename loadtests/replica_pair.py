"""A primary and a hot standby streaming from it, both embedded on loopback; the standby can be made to lag
on purpose (recovery_min_apply_delay holds back each commit's replay), stopped and started again. For the
read-replica tests (tests/functional/db/test_read_replicas.py) and benchmark (loadtests/replica_reads.py)."""
import os
import time

import psycopg
from psycopg.rows import dict_row

from launch.embedded_postgres import EmbeddedPostgres


def basebackup_of(server):
    """pg_basebackup beside the server's own binary (its bindir may hold only links to initdb, pg_ctl, postgres)."""
    return os.path.join(os.path.dirname(os.path.realpath(os.path.join(server.bindir, "postgres"))), "pg_basebackup")


def _wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class StreamingPair:
    def __init__(self):
        # Not fast_unsafe: with synchronous_commit off a commit reaches the standby only when the WAL writer
        # flushes it, up to a fraction of a second later, which is not what a production primary does.
        self.primary = EmbeddedPostgres().start()
        self.standby = EmbeddedPostgres(fast_unsafe=True)
        self.standby._prepare_dir()
        # -R writes primary_conninfo and standby.signal: started, the copy is a standby that streams.
        self.primary._run(basebackup_of(self.primary), "-D", self.standby.data_dir, "-d", self.primary.url, "-R",
                          "-X", "stream", "--no-sync", "-c", "fast")
        self.standby.start()

    def ask(self, url, sql, params=None):
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchone()

    def postmaster_pids(self):
        """{"primary": pid, "standby": pid}: the roots of each server's process tree (CPU from /proc)."""
        pids = {}
        for role, server in (("primary", self.primary), ("standby", self.standby)):
            with open(os.path.join(server.data_dir, "postmaster.pid")) as handle:
                pids[role] = int(handle.readline())
        return pids

    def caught_up(self, timeout=60):
        position = self.primary_position()
        _wait_until(lambda: self.replayed_past(position), timeout, "the standby to replay the primary's writes")

    def lag_replay_by(self, seconds):
        """Every commit replayed this long after it happened, from now on (a reload: no restart)."""
        with psycopg.connect(self.standby.url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(seconds * 1000)}ms'")
            conn.execute("SELECT pg_reload_conf()")
        _wait_until(lambda: self.ask(self.standby.url, "SELECT setting FROM pg_settings WHERE name = "
                                      "'recovery_min_apply_delay'")["setting"] == str(int(seconds * 1000)),
                    10, "the standby's new apply delay")

    def primary_position(self):
        return self.ask(self.primary.url, "SELECT pg_current_wal_insert_lsn()::text AS lsn")["lsn"]

    def replayed_past(self, position):
        return self.ask(self.standby.url, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn AS done",
                         (position,))["done"]

    def replica_lag_seconds(self):
        return self.ask(self.standby.url, "SELECT extract(epoch FROM clock_timestamp() - "
                                           "pg_last_xact_replay_timestamp())::float8 AS lag")["lag"]

    def stop(self):
        self.standby.destroy()
        self.primary.destroy()

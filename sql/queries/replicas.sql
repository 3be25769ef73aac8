-- name: write_position$
-- The primary's WAL insert position, read after a write committed: a replica that has replayed this far shows it.
SELECT pg_current_wal_insert_lsn()::text

-- name: replica_position^
-- Whether this server may serve a read: primary (not in recovery: never serves, it may have diverged),
-- caught_up (replayed past `after`, NULL without it) and lag_seconds, how stale it is: 0 while it has replayed
-- all it received and is still streaming (what the primary sent but it has not received yet is not seen), else
-- the age of the last commit it replayed, a bound on the staleness (NULL: none replayed since it started;
-- clocks of both hosts assumed in step). pg_stat_wal_receiver shows its status only to roles with
-- pg_read_all_stats; without it lag_seconds is always the age of the last replayed commit.
SELECT NOT pg_is_in_recovery() AS primary,
       pg_last_wal_replay_lsn() >= %(after)s::pg_lsn AS caught_up,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                 AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
       END AS lag_seconds

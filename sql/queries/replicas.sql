-- name: write_position$
-- The primary's WAL insert position, read after a write committed: a replica that has replayed this far shows it.
SELECT pg_current_wal_insert_lsn()::text

-- name: replica_position^
-- Whether this server may serve a read: caught_up (replayed past `after`, NULL without it) and lag_seconds,
-- an upper bound on how stale it is: 0 while it has replayed all it received and is still streaming, else the
-- age of the last commit it replayed (NULL: none replayed since it started). A server not in recovery is
-- current by definition. pg_stat_wal_receiver shows its status only to roles with pg_read_all_stats; without
-- it the bound falls back to the age of the last replayed commit, which is never less than the real lag.
SELECT NOT pg_is_in_recovery() AS primary,
       pg_last_wal_replay_lsn() >= %(after)s::pg_lsn AS caught_up,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                 AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
       END AS lag_seconds

-- Replies in flight: the workers' owner locks, and the one place the wake-up channel and payload are
-- spelled (app/streams/wakeups.py listens on it and parses "<message id>:<kind>").

-- The owner keys whose worker is alive: the advisory locks (4242002, key) held right now in this
-- database. Each worker holds its key on its LISTEN connection and, unless it reaches PostgreSQL through a
-- transaction pooler, on every pooled connection too (OWNER_LOCK_CLASS in app/db.py: shared locks, so they
-- never wait on each other); PostgreSQL drops them the moment the process dies.
-- NULL, so nobody is judged gone, until the workers attached to this server have been attached for
-- `settle_seconds` (NULL: never): after a failover or a restart every one of them is dialling it again,
-- and one that has not yet reached it holds nothing here. Measured on the server, by the oldest session
-- holding a key (backend_start), not by what a worker believes of its own listener: a listener stuck on
-- a frozen old primary still thinks itself attached.
-- pg_locks copies the whole lock table: a query reads it once, as an InitPlan,
-- `(SELECT live_reply_owner_keys(settle))`.
CREATE OR REPLACE FUNCTION live_reply_owner_keys(settle_seconds double precision) RETURNS oid[]
    LANGUAGE sql VOLATILE AS $$
    SELECT pg_stat_clear_snapshot();  -- pg_stat_activity is otherwise read once per transaction
    WITH held AS MATERIALIZED (
        SELECT l.objid, l.pid FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.classid = 4242002 AND l.objsubid = 2 AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
    SELECT CASE WHEN (SELECT min(a.backend_start) FROM pg_stat_activity a WHERE a.pid IN (SELECT pid FROM held))
                     < clock_timestamp() - make_interval(secs => settle_seconds)
                THEN (SELECT coalesce(array_agg(DISTINCT objid), '{}') FROM held) END
$$;

-- The previous release's form, for replicas still running it while an upgrade rolls out (they judge only
-- once their own listener's lock has been held a while). Drop it in a later numbered migration.
CREATE OR REPLACE FUNCTION live_reply_owner_keys() RETURNS oid[]
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(objid), '{}') FROM pg_locks
     WHERE locktype = 'advisory' AND classid = 4242002 AND objsubid = 2 AND granted
$$;

-- Whether a live reply's owner is gone: its worker's lock is not among those held (NULL, not true,
-- when `live_owners` is NULL: no judging yet). A reply younger than a second is never judged (its worker
-- may still be taking the lock after start-up). A plain expression using each argument once, so the
-- planner inlines it into the queries that filter many rows with it (tests/unit/streams/test_live.py).
CREATE OR REPLACE FUNCTION reply_owner_gone(owner_key integer, started_at timestamptz, live_owners oid[]) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT owner_key IS NOT NULL AND started_at < now() - interval '1 second'
       AND NOT owner_key::oid = ANY (live_owners)
$$;

-- Wake whoever waits on a reply, on any instance: kind is `chunks`, `end` or `stop:<reason>`.
CREATE OR REPLACE FUNCTION notify_reply(message_id uuid, kind text) RETURNS void
    LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify('chat_engine_replies', message_id::text || ':' || kind)
$$;

-- The channel itself, for the listener (app/streams/wakeups.py).
CREATE OR REPLACE FUNCTION reply_channel() RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT 'chat_engine_replies'
$$;

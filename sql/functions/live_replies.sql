-- Replies in flight: the workers' owner locks, and the one place the wake-up channel and payload are
-- spelled (app/streams/wakeups.py listens on it and parses "<message id>:<kind>").

-- The owner keys whose worker is alive: the advisory locks (4242002, key) held right now. pg_locks
-- copies the whole lock table: a query reads it once, as an InitPlan, `(SELECT live_reply_owner_keys())`.
CREATE OR REPLACE FUNCTION live_reply_owner_keys() RETURNS oid[]
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(objid), '{}') FROM pg_locks
     WHERE locktype = 'advisory' AND classid = 4242002 AND objsubid = 2 AND granted
$$;

-- Whether a live reply's owner is gone: its worker's lock is not among those held. A reply younger
-- than a second is never judged (its worker may still be taking the lock after start-up). A plain
-- expression, so the planner inlines it into the queries that filter many rows with it.
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

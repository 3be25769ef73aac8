-- A dead instance's replies are ended in seconds, not a lease (issue 21 §4).
--
-- Each engine worker holds a session-level advisory lock, (4242002, its owner key), on its LISTEN
-- connection (app/signals.py); PostgreSQL drops it the moment that connection dies with the process.
-- The worker's pooled connections carry the same key in their application_name ("chat-engine#<key>",
-- app/db.py), so a live row records its owner with no extra statement and no extra parameter: the
-- column's default reads it. application_name is one of the parameters PgBouncer keeps per client, so
-- the key is right through a transaction pooler too. A row written by anything else has no owner and
-- is ended by its lease alone, as before.
ALTER TABLE live_replies ADD COLUMN owner_key integer DEFAULT (
    CASE WHEN current_setting('application_name') ~ '^chat-engine#[0-9]{1,9}$'
         THEN split_part(current_setting('application_name'), '#', 2)::integer END);

-- The owner keys whose worker is alive: the advisory locks (4242002, key) held right now. pg_locks
-- copies the whole lock table: a query reads it once, as an InitPlan, `(SELECT live_reply_owner_keys())`.
CREATE FUNCTION live_reply_owner_keys() RETURNS oid[]
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(objid), '{}') FROM pg_locks
     WHERE locktype = 'advisory' AND classid = 4242002 AND objsubid = 2 AND granted
$$;

-- Whether a live reply's owner is gone: its worker's lock is not among those held. A reply younger
-- than a second is never judged (its worker may still be taking the lock after start-up). A plain
-- expression, so the planner inlines it into the queries that filter many rows with it.
CREATE FUNCTION reply_owner_gone(owner_key integer, started_at timestamptz, live_owners oid[]) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT owner_key IS NOT NULL AND started_at < now() - interval '1 second'
       AND NOT owner_key::oid = ANY (live_owners)
$$;

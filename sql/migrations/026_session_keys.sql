-- Issue 23 part 2, a schema ready to be distributed by session: every per-session table carries session_id in
-- its primary key, its unique keys and every foreign key to another per-session table. Hash partitioning
-- (PostgreSQL's own) and a distributed PostgreSQL (Citus, session_id the distribution column, session_types
-- a reference table) both require it: a unique key is enforced per partition or shard, so it must hold the
-- column that picks the partition. docs/partitioning.md has the whole design; partition_by_session()
-- (sql/functions/partitioning.sql, `flask db partition`) converts these tables once they are keyed.
--
-- Not a rolling upgrade: the previous release's statements write reactions and chunk rows without
-- session_id, and name ON CONFLICT targets that no longer exist. Stop the old release, upgrade, start the new.
-- Every key is rebuilt under ACCESS EXCLUSIVE locks on messages, sessions and the tables below: for a large
-- database, a maintenance window (the backfills are one UPDATE each, about a row a microsecond or two).
--
-- Not per-session, left as they are: idempotency_keys (per client: the create-session request it records has
-- no session yet, and no statement joins it with a per-session table), webhook_notices (an outbox claimed
-- across sessions by due time), client_feeds and client_events (per client), sessions itself (keyed by its id,
-- which is the session id), session_types (a reference table), maintenance_runs.

-- The foreign keys that name messages' old keys go first, then the keys themselves.
ALTER TABLE reactions DROP CONSTRAINT reactions_message_id_fkey;
ALTER TABLE live_replies DROP CONSTRAINT live_replies_message_id_fkey;
ALTER TABLE reply_chunks DROP CONSTRAINT reply_chunks_message_id_fkey;
ALTER TABLE queued_replies DROP CONSTRAINT queued_replies_message_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_parent_same_session;

-- messages: (session_id, id), until now a unique key beside the primary key (the same-session parent key's
-- target), becomes the primary key. A lookup by message id alone (the API's /messages/{id}/... entry points,
-- which carry no session) takes its own index: still two btrees on ids, as before.
ALTER TABLE messages DROP CONSTRAINT messages_pkey, DROP CONSTRAINT messages_session_id_key,
    ADD CONSTRAINT messages_pkey PRIMARY KEY (session_id, id);
CREATE INDEX messages_by_id ON messages (id);
ALTER TABLE messages ADD CONSTRAINT messages_parent_same_session FOREIGN KEY (session_id, parent_id)
    REFERENCES messages (session_id, id) ON DELETE CASCADE;
-- Every children lookup names its session (messages_variant_unique serves it, and the parent key's cascade);
-- kept one release for the previous one's replicas (docs/architecture.md), now two index entries less an
-- exchange.
DROP INDEX messages_children;

-- reactions: a message's session, copied onto each reaction.
ALTER TABLE reactions ADD COLUMN session_id uuid;
UPDATE reactions r SET session_id = m.session_id FROM messages m WHERE m.id = r.message_id;
ALTER TABLE reactions ALTER COLUMN session_id SET NOT NULL,
    DROP CONSTRAINT reactions_pkey,
    ADD CONSTRAINT reactions_pkey PRIMARY KEY (session_id, message_id, user_id),
    ADD CONSTRAINT reactions_message_fkey FOREIGN KEY (session_id, message_id)
        REFERENCES messages (session_id, id) ON DELETE CASCADE;

-- live_replies and queued_replies: keyed by (session, message). Their own key to sessions goes: the key to the
-- message of the row's session implies it, and a session's delete still reaches them through its messages.
-- Their by-session index goes too, the primary key now leads with the session (one index write less a send).
ALTER TABLE live_replies
    DROP CONSTRAINT live_replies_pkey,
    DROP CONSTRAINT live_replies_session_id_fkey,
    ADD CONSTRAINT live_replies_pkey PRIMARY KEY (session_id, message_id),
    ADD CONSTRAINT live_replies_message_fkey FOREIGN KEY (session_id, message_id)
        REFERENCES messages (session_id, id) ON DELETE CASCADE;
DROP INDEX live_replies_by_session;

ALTER TABLE queued_replies
    DROP CONSTRAINT queued_replies_pkey,
    DROP CONSTRAINT queued_replies_session_id_fkey,
    ADD CONSTRAINT queued_replies_pkey PRIMARY KEY (session_id, message_id),
    ADD CONSTRAINT queued_replies_message_fkey FOREIGN KEY (session_id, message_id)
        REFERENCES messages (session_id, id) ON DELETE CASCADE;

-- reply_chunks: the reply's session, copied onto each batch.
ALTER TABLE reply_chunks ADD COLUMN session_id uuid;
UPDATE reply_chunks c SET session_id = m.session_id FROM messages m WHERE m.id = c.message_id;
ALTER TABLE reply_chunks ALTER COLUMN session_id SET NOT NULL,
    DROP CONSTRAINT reply_chunks_pkey,
    ADD CONSTRAINT reply_chunks_pkey PRIMARY KEY (session_id, message_id, first_index),
    ADD CONSTRAINT reply_chunks_message_fkey FOREIGN KEY (session_id, message_id)
        REFERENCES messages (session_id, id) ON DELETE CASCADE;

-- share_tokens: a token's hash can no longer be unique alone (a partition or shard enforces only keys that hold
-- its session). A token is 256 random bits, so two equal hashes in different sessions are not a case to guard
-- (2^-128 for a billion tokens); within a session the key still refuses one. The lookup by hash (the share
-- link's one entry point, which carries no session) uses this index's leading column.
ALTER TABLE share_tokens
    DROP CONSTRAINT share_tokens_pkey,
    DROP CONSTRAINT share_tokens_token_hash_key,
    ADD CONSTRAINT share_tokens_pkey PRIMARY KEY (session_id, id),
    ADD CONSTRAINT share_tokens_token_hash_key UNIQUE (token_hash, session_id);

-- exports: keyed by (session, id); GET /exports/{id} carries no session and looks the id up in its own index.
ALTER TABLE exports
    DROP CONSTRAINT exports_pkey,
    ADD CONSTRAINT exports_pkey PRIMARY KEY (session_id, id);
CREATE INDEX exports_by_id ON exports (id);

-- summary_runs is keyed by session_id already.

-- Signatures that change (sql/functions defines them again in this transaction): a message's place is looked up
-- in its session.
DROP FUNCTION IF EXISTS message_place(uuid);

-- The same-stack baseline relay's two transactions (loadtests/relay.py), on the engine's schema, plus a
-- leaf pointer of its own (relay_leaves): the cheapest shape of a send's path read, one primary-key
-- lookup per message walking up from the leaf, no JSON built in PostgreSQL.

-- name: relay_schema!
-- The relay's own table: each session's newest message (created once, by every relay worker at start).
CREATE TABLE IF NOT EXISTS relay_leaves (session_id uuid PRIMARY KEY REFERENCES sessions ON DELETE CASCADE,
                                         leaf_id uuid NOT NULL);

-- name: relay_start*
-- Transaction 1 as one statement: lock the caller's session, append the user message and an incomplete assistant placeholder below the session's leaf, move the leaf, and return the path up to the old leaf (leaf first); no row: not the caller's session; one row with a NULL id: an empty session.
WITH owned AS (
    SELECT id FROM sessions WHERE id = %(session_id)s AND client_id = %(client_id)s FOR UPDATE
), leaf AS (
    SELECT l.leaf_id FROM relay_leaves l JOIN owned ON l.session_id = owned.id
), placed AS (
    INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active, is_complete)
    SELECT new.id, owned.id, new.parent_id, new.role, new.content, 0, true, new.is_complete
    FROM owned, (VALUES (%(user_id)s::uuid, (SELECT leaf_id FROM leaf), 'user', %(content)s::jsonb, true),
                        (%(reply_id)s::uuid, %(user_id)s::uuid, 'assistant', '[]'::jsonb, false))
                AS new (id, parent_id, role, content, is_complete)
), moved AS (
    INSERT INTO relay_leaves (session_id, leaf_id) SELECT id, %(reply_id)s FROM owned
    ON CONFLICT (session_id) DO UPDATE SET leaf_id = excluded.leaf_id
), path AS (
    WITH RECURSIVE up AS (
        SELECT m.id, m.parent_id, m.role, m.content, m.metadata, m.file_ids, m.created_at, 0 AS height
          FROM messages m WHERE m.id = (SELECT leaf_id FROM leaf)
        UNION ALL
        SELECT p.id, p.parent_id, p.role, p.content, p.metadata, p.file_ids, p.created_at, up.height + 1
          FROM up JOIN messages p ON p.id = up.parent_id
    )
    SELECT * FROM up
)
SELECT path.* FROM owned LEFT JOIN path ON true ORDER BY path.height;

-- name: relay_finish!
-- Transaction 2: store the streamed reply and mark it complete.
UPDATE messages SET content = %(content)s, metadata = %(metadata)s, is_complete = true, updated_at = clock_timestamp()
WHERE id = %(reply_id)s AND session_id = %(session_id)s;

-- The same-stack baseline relay's two transactions (loadtests/relay.py), on the engine's schema.

-- name: relay_start^
-- Transaction 1 as one statement: lock the caller's session, append the user message and an incomplete assistant placeholder after the session's newest message, and return the whole active history before them (as the engine sends).
WITH owned AS (
    SELECT id FROM sessions WHERE id = %(session_id)s AND client_id = %(client_id)s FOR UPDATE
), leaf AS (
    SELECT m.id FROM messages m JOIN owned ON m.session_id = owned.id ORDER BY m.created_at DESC, m.id LIMIT 1
), placed AS (
    INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active, is_complete)
    SELECT new.id, owned.id, new.parent_id, new.role, new.content, 0, true, new.is_complete
    FROM owned, (VALUES (%(user_id)s::uuid, (SELECT id FROM leaf), 'user', %(content)s::jsonb, true),
                        (%(reply_id)s::uuid, %(user_id)s::uuid, 'assistant', '[]'::jsonb, false))
                AS new (id, parent_id, role, content, is_complete)
)
SELECT coalesce((SELECT json_agg(json_build_object('role', h.role, 'content', h.content) ORDER BY h.created_at)
                 FROM messages h WHERE h.session_id = owned.id AND h.is_active), '[]') AS history
FROM owned;

-- name: relay_finish!
-- Transaction 2: store the streamed reply and mark it complete.
UPDATE messages SET content = %(content)s, metadata = %(metadata)s, is_complete = true, updated_at = clock_timestamp()
WHERE id = %(reply_id)s AND session_id = %(session_id)s;

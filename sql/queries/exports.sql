-- name: session_tree*
-- Every message of the owner's tree in a session, parents before children, siblings by index.
SELECT m.id, m.parent_id, m.role, m.content, m.file_ids, m.variant_index, m.is_active, m.is_complete,
       m.is_hidden_from_user, m.metadata, m.created_at
  FROM messages m
 WHERE m.session_id = %(session_id)s AND m.recipient_client_id IS NULL AND NOT m.is_hidden_from_user
 ORDER BY m.created_at, m.variant_index;

-- name: insert_export^
-- Store a rendered export (any instance can serve it) and forget expired ones.
WITH expired AS (
    DELETE FROM exports WHERE expires_at < now()
)
INSERT INTO exports (id, session_id, format, scope, content_type, body, expires_at)
VALUES (%(id)s, %(session_id)s, %(format)s, %(scope)s, %(content_type)s, %(body)s, %(expires_at)s)
RETURNING id, expires_at;

-- name: get_export^
-- An export that has not expired.
SELECT id, session_id, format, content_type, body, expires_at FROM exports
 WHERE id = %(id)s AND expires_at > now();

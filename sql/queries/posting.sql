-- name: insert_posted_message^
-- Add a message (any role, visibility flags) as the newest active owner variant under a parent (NULL: a root). No row, and nothing written, when the parent already has %(max_siblings)s owner variants.
WITH room AS (
    SELECT coalesce(max(variant_index) + 1, 0) AS variant_index
      FROM messages
     WHERE session_id = %(session_id)s
       AND (parent_id = %(parent_id)s OR (parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
    HAVING count(*) FILTER (WHERE recipient_client_id IS NULL) < %(max_siblings)s
), deactivated AS (
    UPDATE messages SET is_active = false, updated_at = clock_timestamp()
     WHERE session_id = %(session_id)s AND is_active AND recipient_client_id IS NULL
       AND (parent_id = %(parent_id)s OR (parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
       AND EXISTS (SELECT 1 FROM room)
    RETURNING id
)
INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active,
                      is_hidden_from_user, is_hidden_from_llm, metadata)
SELECT %(id)s, %(session_id)s, %(parent_id)s, %(role)s, %(content)s, room.variant_index, true,
       %(hidden_from_user)s, %(hidden_from_backend)s, %(metadata)s
  FROM room
RETURNING id, (SELECT count(*) FROM deactivated) AS deactivated;

-- name: insert_share^
-- Store a new share token (only its hash) for a session.
INSERT INTO share_tokens (id, session_id, token_hash, expires_at)
VALUES (%(id)s, %(session_id)s, %(token_hash)s, %(expires_at)s)
RETURNING *;

-- name: list_shares*
-- A session's share tokens, oldest first (the tokens themselves are never stored).
SELECT id, created_at, expires_at, revoked_at FROM share_tokens
 WHERE session_id = %(session_id)s
 ORDER BY created_at, id;

-- name: revoke_share^
-- Revoke one of a session's share tokens; returns nothing if it is unknown.
UPDATE share_tokens SET revoked_at = coalesce(revoked_at, now())
 WHERE id = %(id)s AND session_id = %(session_id)s
RETURNING id;

-- name: session_by_share^
-- The session a live (unrevoked, unexpired) share token opens.
SELECT s.*, st.id AS share_id
  FROM share_tokens st
  JOIN sessions s ON s.id = st.session_id
 WHERE st.token_hash = %(token_hash)s AND st.revoked_at IS NULL
   AND (st.expires_at IS NULL OR st.expires_at > now());

-- name: lock_session_by_share^
-- Lock the session a live share token opens and read its backend settings.
SELECT settings.*
  FROM (SELECT s, t FROM share_tokens st
          JOIN sessions s ON s.id = st.session_id
          JOIN session_types t ON t.id = s.session_type_id
         WHERE st.token_hash = %(token_hash)s AND st.revoked_at IS NULL
           AND (st.expires_at IS NULL OR st.expires_at > now())
           FOR NO KEY UPDATE OF s) locked
 CROSS JOIN LATERAL session_settings(locked.s, locked.t) settings;

-- name: recipient_path*
-- A share recipient's path: at each node their own active child if any, else the owner's (in active_path's shape).
SELECT id, parent_id, role, is_active, is_hidden_from_user, recipient_client_id, history_item
  FROM path_descent(%(session_id)s, %(recipient)s) ORDER BY depth;

-- name: recipient_path_page*
-- Up to %(limit)s messages of a recipient's path (see recipient_path), from the root or below %(after_id)s.
SELECT m.*, p.depth
  FROM path_descent(%(session_id)s, %(recipient)s, %(after_id)s, %(limit)s) p
  JOIN message_rows m ON m.session_id = %(session_id)s AND m.id = p.id
 ORDER BY p.depth;

-- name: on_shared_path$
-- Whether a message is on what a share view shows: the owner's active path, or for a recipient that path continued by their own active branch (their active child wins at a node, as in recipient_path_page). Walked up from the message, one primary-key lookup per level, stopping at the first step off the path.
WITH RECURSIVE up AS (
    SELECT m.id, m.parent_id, m.is_active, m.recipient_client_id
      FROM messages m
     WHERE m.id = %(message_id)s AND m.session_id = %(session_id)s
    UNION ALL
    SELECT parent.*
      FROM up
     CROSS JOIN LATERAL (SELECT m.id, m.parent_id, m.is_active, m.recipient_client_id
                           FROM messages m WHERE m.session_id = %(session_id)s AND m.id = up.parent_id
                          LIMIT 1) parent
     WHERE up.is_active
       AND (up.recipient_client_id IS NULL OR up.recipient_client_id = %(recipient)s::text)
), steps AS (
    SELECT coalesce(up.is_active AND CASE
               WHEN up.recipient_client_id IS NOT NULL
                   THEN up.recipient_client_id = %(recipient)s::text AND up.parent_id IS NOT NULL
               WHEN %(recipient)s::text IS NULL OR up.parent_id IS NULL THEN true
               ELSE NOT EXISTS (SELECT 1 FROM messages sibling
                                 WHERE sibling.session_id = %(session_id)s AND sibling.parent_id = up.parent_id
                                   AND sibling.is_active
                                   AND sibling.recipient_client_id = %(recipient)s::text)
           END, false) AS on_path
      FROM up
)
SELECT count(*) > 0 AND bool_and(on_path) FROM steps;

-- name: prune_ended_shares$
-- Delete up to %(limit)s share links revoked or expired more than %(retention_days)s days ago (run by the sweep); returns how many.
WITH gone AS (
    DELETE FROM share_tokens
     WHERE (session_id, id) IN (SELECT session_id, id FROM share_tokens
                   WHERE (revoked_at IS NOT NULL OR expires_at IS NOT NULL)
                     AND least(revoked_at, expires_at)
                         < (SELECT clock_timestamp() - %(retention_days)s * interval '1 day')
                   LIMIT %(limit)s)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: session_tree*
-- Every message of the owner's tree in a session, parents before children, siblings by index.
SELECT m.id, m.parent_id, m.role, m.content, m.file_ids, m.variant_index, m.is_active, m.is_complete,
       m.is_hidden_from_user, m.metadata, m.created_at,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', r.user_id, 'reaction_type', r.reaction_type,
                                                     'comment', r.comment, 'reasons', to_jsonb(r.reasons))
                                  ORDER BY r.user_id), '[]')
          FROM reactions r WHERE r.session_id = m.session_id AND r.message_id = m.id) AS reactions
  FROM messages m
 WHERE m.session_id = %(session_id)s AND m.recipient_client_id IS NULL AND NOT m.is_hidden_from_user
 ORDER BY m.created_at, m.variant_index;

-- name: lock_client_exports!
-- Serialize one client's export creations on every instance (reuse, caps, insert); held to the transaction's end. Two-key advisory locks never collide with the migrations' one-key lock.
SELECT pg_advisory_xact_lock(4242010, hashtext(%(client_id)s));

-- name: export_source_version$
-- What an export of the caller's session would be built from, as one comparable value (None: not the caller's session): the session row's last change, its owner tree's last change and size. Every tree write locks the session row first and stamps clock_timestamp() after it, so these only move forward; read before the tree, an export is never older than the version it records.
SELECT concat_ws('/', extract(epoch FROM s.updated_at), extract(epoch FROM tree.last_change), tree.total)
  FROM sessions s
 CROSS JOIN LATERAL (SELECT max(m.updated_at) AS last_change, count(*) AS total
                       FROM messages m
                      WHERE m.session_id = s.id AND m.recipient_client_id IS NULL) tree
 WHERE s.id = %(session_id)s AND s.client_id = %(client_id)s;

-- name: reuse_export^
-- A live export of the same session, format and scope built from the same version, its life extended to %(expires_at)s; None when there is none.
UPDATE exports SET expires_at = greatest(expires_at, %(expires_at)s)
 WHERE session_id = %(session_id)s AND id = (SELECT id FROM exports
              WHERE session_id = %(session_id)s AND format = %(format)s AND scope = %(scope)s
                AND source_version = %(source_version)s AND expires_at > now()
              ORDER BY expires_at DESC
              LIMIT 1)
RETURNING id, expires_at;

-- name: client_export_usage^
-- A client's live exports: how many, their bytes, and when the first of them expires.
SELECT count(*) AS live, coalesce(sum(size_bytes), 0) AS bytes, min(expires_at) AS first_expiry
  FROM exports
 WHERE client_id = %(client_id)s AND expires_at > now();

-- name: insert_export^
-- Store a rendered export (any instance can serve it) with what it was built from.
INSERT INTO exports (id, session_id, client_id, format, scope, content_type, body, size_bytes, source_version,
                     expires_at)
VALUES (%(id)s, %(session_id)s, %(client_id)s, %(format)s, %(scope)s, %(content_type)s, %(body)s,
        %(size_bytes)s, %(source_version)s, %(expires_at)s)
RETURNING id, expires_at;

-- name: delete_expired_exports$
-- Purge expired exports (run by every worker's sweep), oldest first, at most %(limit)s rows and about %(max_bytes)s bytes a batch (always at least one); rows another worker is purging are skipped. Returns how many.
WITH batch AS (
    SELECT session_id, id, size_bytes, expires_at FROM exports
     WHERE expires_at <= now()
     ORDER BY expires_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT session_id, id FROM (SELECT session_id, id, sum(size_bytes) OVER (ORDER BY expires_at, id) - size_bytes AS before FROM batch) b
     WHERE before < %(max_bytes)s
), gone AS (
    DELETE FROM exports e USING chosen WHERE e.session_id = chosen.session_id AND e.id = chosen.id
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: get_export^
-- An export that has not expired.
SELECT id, session_id, format, content_type, body, expires_at FROM exports
 WHERE id = %(id)s AND expires_at > now();

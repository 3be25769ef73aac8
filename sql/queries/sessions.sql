-- name: insert_session^
-- Store a new session with the capabilities its backend announced.
INSERT INTO sessions (id, client_id, session_type_id, available_capabilities, metadata)
VALUES (%(id)s, %(client_id)s, %(session_type_id)s, %(capabilities)s, %(metadata)s)
RETURNING *, session_accepts_files(session_type_id, available_capabilities) AS accepts_files;

-- name: get_session^
-- A session, only if the caller owns it (with whether it accepts files, migration 003).
SELECT *, session_accepts_files(session_type_id, available_capabilities) AS accepts_files FROM sessions WHERE id = %(id)s AND client_id = %(client_id)s;

-- name: session_accepts_files$
-- Whether a session takes file_ids (migration 003); None when the session is gone.
SELECT session_accepts_files(session_type_id, available_capabilities) FROM sessions WHERE id = %(id)s;

-- name: delete_session^
-- Delete a caller's session and (by cascade) everything under it; returns its session type.
DELETE FROM sessions s
 WHERE s.id = %(id)s AND s.client_id = %(client_id)s
RETURNING s.id, s.session_type_id;

-- name: lock_session^
-- Lock a caller's session row (serializing tree writes in it) and read its backend settings.
SELECT settings.*
  FROM (SELECT s, t FROM sessions s
          JOIN session_types t ON t.id = s.session_type_id
         WHERE s.id = %(id)s AND s.client_id = %(client_id)s
           FOR NO KEY UPDATE OF s) locked
 CROSS JOIN LATERAL session_settings(locked.s, locked.t) settings;

-- name: lock_session_of_message^
-- Lock the session that holds a caller's message, and return the message and backend settings.
SELECT settings.*, locked.message_role, locked.message_parent_id
  FROM (SELECT s, t, m.role AS message_role, m.parent_id AS message_parent_id
          FROM messages m
          JOIN sessions s ON s.id = m.session_id
          JOIN session_types t ON t.id = s.session_type_id
         WHERE m.id = %(message_id)s AND s.client_id = %(client_id)s AND NOT m.is_hidden_from_user
           FOR NO KEY UPDATE OF s) locked
 CROSS JOIN LATERAL session_settings(locked.s, locked.t) settings;

-- name: list_sessions*
-- A caller's sessions, newest first, optionally with a tag, after a keyset cursor.
SELECT *, session_accepts_files(session_type_id, available_capabilities) AS accepts_files FROM sessions
 WHERE client_id = %(client_id)s
   AND (%(tag)s::text IS NULL OR metadata -> 'tags' ? %(tag)s::text)
   AND (%(after_created_at)s::timestamptz IS NULL
        OR (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- name: update_session_metadata^
-- Replace a caller's session metadata (the caller merged the patch under the row lock).
UPDATE sessions SET metadata = %(metadata)s, updated_at = clock_timestamp()
 WHERE id = %(id)s AND client_id = %(client_id)s
RETURNING *, session_accepts_files(session_type_id, available_capabilities) AS accepts_files;

-- name: switch_session_type^
-- Point a locked session at another session type with the capabilities its backend announced.
UPDATE sessions
   SET session_type_id = %(session_type_id)s, available_capabilities = %(capabilities)s,
       updated_at = clock_timestamp()
 WHERE id = %(id)s AND client_id = %(client_id)s
RETURNING *, session_accepts_files(session_type_id, available_capabilities) AS accepts_files;

-- name: store_summary!
-- Store a summary in the session's metadata under "summary".
UPDATE sessions
   SET metadata = jsonb_set(metadata, '{summary}', %(summary)s), updated_at = clock_timestamp()
 WHERE id = %(id)s
RETURNING id;

-- name: claim_summary_run$
-- Claim the session's one background summary (auto_summary_every_messages): true when no other instance runs one, or the one that does started more than `stale_seconds` ago (its instance died).
INSERT INTO summary_runs (session_id) VALUES (%(session_id)s)
ON CONFLICT (session_id) DO UPDATE SET started_at = clock_timestamp()
 WHERE summary_runs.started_at < clock_timestamp() - make_interval(secs => %(stale_seconds)s)
RETURNING true;

-- name: release_summary_run!
-- The background summary ended (stored or not): the next may start.
DELETE FROM summary_runs WHERE session_id = %(session_id)s;

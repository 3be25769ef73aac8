-- name: insert_session
-- Store a new session with the capabilities its backend announced.
INSERT INTO sessions (id, client_id, session_type_id, available_capabilities, metadata)
VALUES (%(id)s, %(client_id)s, %(session_type_id)s, %(capabilities)s, %(metadata)s)
RETURNING *;

-- name: get_session
-- A session, only if the caller owns it.
SELECT * FROM sessions WHERE id = %(id)s AND client_id = %(client_id)s;

-- name: delete_session
-- Delete a caller's session and (by cascade) everything under it; returns its backend's address.
DELETE FROM sessions s
 USING session_types t
 WHERE s.id = %(id)s AND s.client_id = %(client_id)s AND t.id = s.session_type_id
RETURNING s.id, t.webhook_url, t.id AS session_type_id;

-- name: lock_session_for_exchange
-- Lock a caller's session row (serializing tree writes in it) and read its backend settings.
SELECT s.id, s.client_id, s.session_type_id, s.available_capabilities, s.metadata,
       t.webhook_url, t.timeout_seconds, t.summarization_enabled, t.summarization_url,
       t.summarization_settings
  FROM sessions s
  JOIN session_types t ON t.id = s.session_type_id
 WHERE s.id = %(id)s AND s.client_id = %(client_id)s
   FOR NO KEY UPDATE OF s;

-- name: lock_session_of_message
-- Lock the session that holds a caller's message, and return the message and backend settings.
SELECT s.id, s.client_id, s.session_type_id, s.available_capabilities, s.metadata,
       t.webhook_url, t.timeout_seconds, t.summarization_enabled, t.summarization_url,
       t.summarization_settings,
       m.role AS message_role, m.parent_id AS message_parent_id
  FROM messages m
  JOIN sessions s ON s.id = m.session_id
  JOIN session_types t ON t.id = s.session_type_id
 WHERE m.id = %(message_id)s AND s.client_id = %(client_id)s AND NOT m.is_hidden_from_user
   FOR NO KEY UPDATE OF s;

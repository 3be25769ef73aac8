-- name: insert_session_type^
-- Register a backend; fails on a duplicate id.
INSERT INTO session_types (id, name, description, webhook_url, timeout_seconds,
                           summarization_enabled, summarization_url, summarization_settings, accepts_files,
                           webhook_secret, max_reply_seconds, breaker_failure_threshold, breaker_open_seconds,
                           breaker_half_open_probes, auto_summary_every_messages, history_window_messages,
                           retention_days)
VALUES (%(id)s, %(name)s, %(description)s, %(webhook_url)s, %(timeout_seconds)s,
        %(summarization_enabled)s, %(summarization_url)s, %(summarization_settings)s, %(accepts_files)s,
        %(webhook_secret)s, %(max_reply_seconds)s, %(breaker_failure_threshold)s, %(breaker_open_seconds)s,
        %(breaker_half_open_probes)s, %(auto_summary_every_messages)s, %(history_window_messages)s,
        %(retention_days)s)
RETURNING *;

-- name: list_session_types*
-- Every session type, oldest first.
SELECT * FROM session_types ORDER BY created_at, id;

-- name: get_session_type^
-- One session type by id.
SELECT * FROM session_types WHERE id = %(id)s;

-- name: update_session_type^
-- Overwrite a session type's settings (the caller merges a partial update first).
UPDATE session_types
   SET name = %(name)s, description = %(description)s, webhook_url = %(webhook_url)s,
       timeout_seconds = %(timeout_seconds)s, summarization_enabled = %(summarization_enabled)s,
       summarization_url = %(summarization_url)s, summarization_settings = %(summarization_settings)s,
       accepts_files = %(accepts_files)s,
       max_reply_seconds = %(max_reply_seconds)s, breaker_failure_threshold = %(breaker_failure_threshold)s,
       breaker_open_seconds = %(breaker_open_seconds)s, breaker_half_open_probes = %(breaker_half_open_probes)s,
       auto_summary_every_messages = %(auto_summary_every_messages)s,
       history_window_messages = %(history_window_messages)s, retention_days = %(retention_days)s,
       updated_at = now()
 WHERE id = %(id)s
RETURNING *;

-- name: delete_session_type^
-- Remove a session type that no session uses (the foreign key refuses otherwise).
DELETE FROM session_types WHERE id = %(id)s RETURNING id;

-- name: session_type_catalogue*
-- What any client may know of the session types (never URLs or settings), oldest first.
SELECT id, name, description, summarization_enabled, accepts_files
  FROM session_types
 ORDER BY created_at, id;

-- name: set_webhook_secret^
-- Replace a session type's webhook signing secret (rotation); the old one stops working at once.
UPDATE session_types SET webhook_secret = %(webhook_secret)s, updated_at = now()
 WHERE id = %(id)s
RETURNING *;

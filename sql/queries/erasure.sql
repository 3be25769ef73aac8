-- DELETE /api/v1/me/data and the retention sweep: whole sessions, then what a client left in others' (app/chat/erasure.py).

-- name: erase_sessions^
-- Delete the given sessions with everything under them, counting what goes; with `stale_only`, only those still past their type's retention_days. Rows another transaction holds are skipped (the retention sweep comes back to them; an erasure locks its own first, lock_sessions). Returns the deleted sessions (id, session_type_id) and the counts, read before the delete (one snapshot).
WITH doomed AS (
    SELECT s.id, s.session_type_id FROM sessions s
     WHERE s.id = ANY(%(ids)s)
       AND (NOT %(stale_only)s
            OR (s.updated_at < now() - (SELECT t.retention_days FROM session_types t
                                         WHERE t.id = s.session_type_id) * interval '1 day'
                -- in use after all: a reply streaming or waiting, or a message newer than the retention
                -- (a send's first transaction and a posted message do not touch the session row)
                AND NOT EXISTS (SELECT 1 FROM live_replies l WHERE l.session_id = s.id)
                AND NOT EXISTS (SELECT 1 FROM queued_replies q WHERE q.session_id = s.id)
                AND NOT EXISTS (SELECT 1 FROM messages m
                                 WHERE m.session_id = s.id
                                   AND m.created_at >= now() - (SELECT t.retention_days FROM session_types t
                                                                 WHERE t.id = s.session_type_id) * interval '1 day')))
     ORDER BY s.id
       FOR UPDATE OF s SKIP LOCKED
), doomed_messages AS (
    SELECT m.id FROM messages m JOIN doomed d ON d.id = m.session_id
), gone AS (
    DELETE FROM sessions s USING doomed WHERE s.id = doomed.id RETURNING s.id, s.session_type_id
)
SELECT coalesce((SELECT json_agg(json_build_object('id', id, 'session_type_id', session_type_id)) FROM gone), '[]')
           AS sessions,
       (SELECT count(*) FROM doomed_messages) AS messages,
       (SELECT count(*) FROM share_tokens t JOIN doomed d ON d.id = t.session_id) AS shares,
       (SELECT count(*) FROM exports e JOIN doomed d ON d.id = e.session_id) AS exports,
       (SELECT count(*) FROM reactions r JOIN doomed d ON d.id = r.session_id) AS reactions,
       (SELECT count(*) FROM reply_chunks c JOIN doomed d ON d.id = c.session_id) AS chunk_batches;

-- name: lock_sessions!
-- Lock sessions for deletion, in a fixed order (waiting for a transaction that holds one).
SELECT id FROM sessions WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE;

-- name: sessions_of_client*
-- A batch of a client's session ids, for erasure.
SELECT id FROM sessions WHERE client_id = %(client_id)s ORDER BY id LIMIT %(limit)s;

-- name: lock_sessions_with_recipient_messages*
-- Lock the sessions where a client has messages as a share recipient (the session row first, the locking rule), in a fixed order.
SELECT id FROM sessions
 WHERE id IN (SELECT session_id FROM messages WHERE recipient_client_id = %(client_id)s)
 ORDER BY id
   FOR NO KEY UPDATE;

-- name: recipient_branch_roots*
-- The first messages of a client's branches as a share recipient (a parent that is not its own), last variant first: deleting them in this order never moves the index of one still to delete.
SELECT m.session_id, m.parent_id, m.id, m.variant_index
  FROM messages m
  LEFT JOIN messages p ON p.session_id = m.session_id AND p.id = m.parent_id
 WHERE m.recipient_client_id = %(client_id)s AND p.recipient_client_id IS DISTINCT FROM %(client_id)s
 ORDER BY m.session_id, m.parent_id, m.variant_index DESC;

-- name: recipient_chunk_batches$
-- How many stored chunk batches a client's replies as a share recipient have (they go with the branches).
SELECT count(*) FROM reply_chunks c JOIN messages m ON m.session_id = c.session_id AND m.id = c.message_id
 WHERE m.recipient_client_id = %(client_id)s;

-- name: erase_client_records^
-- What else a client left outside its own sessions: its reactions, its exports, its idempotency records. Counted as they go.
WITH reactions_gone AS (
    DELETE FROM reactions WHERE user_id = %(client_id)s RETURNING 1
), exports_gone AS (
    DELETE FROM exports WHERE client_id = %(client_id)s RETURNING 1
), keys_gone AS (
    DELETE FROM idempotency_keys WHERE client_id = %(client_id)s RETURNING 1
)
SELECT (SELECT count(*) FROM reactions_gone) AS reactions,
       (SELECT count(*) FROM exports_gone) AS exports,
       (SELECT count(*) FROM keys_gone) AS idempotency_records;

-- name: stale_sessions*
-- Sessions whose type keeps them `retention_days` and that were not updated for longer, up to `limit` (the retention sweep's candidates; a scan of sessions, see migration 018).
SELECT s.id
  FROM sessions s
  JOIN session_types t ON t.id = s.session_type_id
 WHERE t.retention_days IS NOT NULL AND s.updated_at < now() - t.retention_days * interval '1 day'
 LIMIT %(limit)s;

-- name: start_maintenance_run$
-- Whether this instance runs the named periodic job now: true for the one caller that finds it last started more than `every_seconds` ago (any instance, any number of them; no lock outlives the statement).
UPDATE maintenance_runs SET last_started_at = now()
 WHERE name = %(name)s AND last_started_at < now() - make_interval(secs => %(every_seconds)s)
RETURNING true;

-- The common send's transaction 1.

-- The common send's transaction-1 work in one round trip: lock the caller's session, then
-- place the turn below the owner's active leaf. A function because of snapshots: one statement reads
-- the database as it was when it started, so a statement that took the lock itself would walk the tree
-- as it was before the lock's last holder committed (a review reproduced misplaced turns, missed busy
-- replies and a foreign-key failure that way). In a VOLATILE function each statement takes a fresh
-- snapshot: the placement below runs after the lock and sees everything committed before it.
--
-- Returns no row when the session is not the caller's; otherwise the session with its type's backend
-- settings (session_settings, as jsonb), the history sent to the backend as one JSON array
-- text (items by webhook_history_item), the reply still streaming on the active path if any (when
-- p_check_busy; then nothing is written), whether the turn was placed, and how many siblings were
-- deactivated. app/chat/exchanges.py calls it through sql/queries/messages.sql: continue_active_path.
-- Times are clock_timestamp(), not now() (the transaction's start): the lock may have been waited for.
CREATE OR REPLACE FUNCTION continue_active_path(
    p_session_id uuid, p_client_id text, p_check_busy boolean, p_user_message_id uuid,
    p_assistant_message_id uuid, p_content jsonb, p_file_ids uuid[], p_resumable boolean,
    p_lease_seconds double precision, p_message_prefix text, p_session_prefix text)
RETURNS TABLE (session jsonb, history text, busy_message_id uuid, busy_lapsed boolean, placed boolean,
               deactivated bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    v_session jsonb;
BEGIN
    SELECT to_jsonb(settings) INTO v_session
      FROM (SELECT s, t FROM sessions s
              JOIN session_types t ON t.id = s.session_type_id
             WHERE s.id = p_session_id AND s.client_id = p_client_id
               FOR NO KEY UPDATE OF s) locked
     CROSS JOIN LATERAL session_settings(locked.s, locked.t) settings;
    IF v_session IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH path AS (
        -- active_path's walk (same reasons for its shape).
        WITH RECURSIVE walk AS (
            SELECT m.id, webhook_history_item(m, p_message_prefix, p_session_prefix) AS history_item, 0 AS depth
              FROM messages m
             WHERE m.session_id = p_session_id AND m.parent_id IS NULL AND m.is_active
               AND m.recipient_client_id IS NULL
            UNION ALL
            SELECT child.*, walk.depth + 1
              FROM walk
             CROSS JOIN LATERAL (
                   SELECT m.id, webhook_history_item(m, p_message_prefix, p_session_prefix) AS history_item
                     FROM messages m
                    WHERE m.parent_id = walk.id AND m.is_active AND m.recipient_client_id IS NULL
                    LIMIT 1
             ) child
        )
        SELECT * FROM walk
    ), leaf AS (
        SELECT id FROM path ORDER BY depth DESC LIMIT 1
    ), busy AS (
        SELECT l.message_id, l.lease_expires_at < clock_timestamp() AS lapsed
          FROM live_replies l
          JOIN messages m ON m.id = l.message_id
         WHERE p_check_busy AND l.session_id = p_session_id AND m.is_active AND m.recipient_client_id IS NULL
         ORDER BY l.started_at DESC
         LIMIT 1
    ), spot AS (
        SELECT p_session_id AS session_id, (SELECT id FROM leaf) AS parent_id
         WHERE NOT EXISTS (SELECT 1 FROM busy)
    ), deactivated AS (
        -- In the terms of messages_one_active_sibling's index, so that a generic plan looks up the one
        -- sibling instead of scanning the session (IS NOT DISTINCT FROM has no index).
        UPDATE messages m SET is_active = false, updated_at = clock_timestamp()
          FROM spot
         WHERE m.session_id = spot.session_id AND m.is_active AND m.recipient_client_id IS NULL
           AND coalesce(m.parent_id, '00000000-0000-0000-0000-000000000000'::uuid)
               = coalesce(spot.parent_id, '00000000-0000-0000-0000-000000000000'::uuid)
        RETURNING m.id
    ), user_message AS (
        INSERT INTO messages (id, session_id, parent_id, role, content, file_ids, variant_index, is_active, metadata)
        SELECT p_user_message_id, spot.session_id, spot.parent_id, 'user', p_content, p_file_ids,
               -- The next variant under the parent, or among the roots: two lookups in messages_variant_unique.
               coalesce(greatest(
                   (SELECT max(m.variant_index) FROM messages m
                     WHERE m.session_id = spot.session_id AND m.parent_id = spot.parent_id),
                   (SELECT max(m.variant_index) FROM messages m
                     WHERE m.session_id = spot.session_id AND m.parent_id IS NULL AND spot.parent_id IS NULL)) + 1, 0),
               true, '{}'
          FROM spot
        RETURNING id
    ), assistant_message AS (
        INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active, is_complete, metadata)
        SELECT p_assistant_message_id, p_session_id, user_message.id, 'assistant', '[]', 0, true, false,
               jsonb_build_object('session_type_id', v_session->>'session_type_id')
          FROM user_message
        RETURNING id
    ), live AS (
        INSERT INTO live_replies (message_id, session_id, resumable, lease_expires_at)
        SELECT id, p_session_id, p_resumable, clock_timestamp() + make_interval(secs => p_lease_seconds)
          FROM assistant_message
    )
    SELECT v_session, '[' || coalesce((SELECT string_agg(history_item, ',' ORDER BY depth) FROM path), '') || ']' AS history,
           (SELECT message_id FROM busy) AS busy_message_id, (SELECT lapsed FROM busy) AS busy_lapsed,
           EXISTS (SELECT 1 FROM assistant_message) AS placed,
           (SELECT count(*) FROM deactivated) AS deactivated;
END
$fn$;

-- Placing a turn, and the common send's transaction 1. Lease times are clock_timestamp(), not now() (the
-- transaction's start): a session's lock may have been waited for.

-- The owner's reply still streaming in a session (on the active path), if any, and whether its lease lapsed.
-- PL/pgSQL here and in place_turn, not SQL: PostgreSQL plans a SQL function it cannot inline (a volatile
-- one) again on every call, while PL/pgSQL keeps each statement's plan for the session; planning these
-- statements on every send cost more PostgreSQL CPU than running them.
CREATE OR REPLACE FUNCTION busy_reply(p_session_id uuid) RETURNS TABLE (message_id uuid, lapsed boolean)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT l.message_id, l.lease_expires_at < clock_timestamp()
      FROM live_replies l
      JOIN messages m ON m.session_id = p_session_id AND m.id = l.message_id
     WHERE l.session_id = p_session_id AND m.is_active AND m.recipient_client_id IS NULL
     ORDER BY l.started_at DESC
     LIMIT 1;
END
$fn$;

-- The one "place a turn": a user message as the newest active variant under `p_parent_id` (NULL: among
-- the roots) with an empty assistant reply below it, or (`p_user_message_id` NULL: a recreate) the reply
-- alone as the newest variant under the parent; the reply is live, leased to the caller's instance. The
-- siblings of the audience (the owner's, or share recipient `p_recipient`'s) are deactivated. No row,
-- and nothing written, when the parent already has `p_max_siblings` variants that audience sees (NULL:
-- no bound). Every lookup is in an index's own terms (messages_variant_unique, messages_one_active_sibling)
-- so that the generic plans of this function's body use them.
CREATE OR REPLACE FUNCTION place_turn(
    p_session_id uuid, p_parent_id uuid, p_recipient text, p_max_siblings integer, p_user_message_id uuid,
    p_assistant_message_id uuid, p_content jsonb, p_file_ids uuid[], p_user_metadata jsonb,
    p_assistant_metadata jsonb, p_resumable boolean, p_lease_seconds double precision)
RETURNS TABLE (user_message_id uuid, assistant_message_id uuid, variant_index integer, created_at timestamptz,
               deactivated bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH siblings AS (
        SELECT m.variant_index, m.recipient_client_id FROM messages m
         WHERE m.session_id = p_session_id AND m.parent_id = p_parent_id
        UNION ALL
        SELECT m.variant_index, m.recipient_client_id FROM messages m
         WHERE m.session_id = p_session_id AND m.parent_id IS NULL AND p_parent_id IS NULL
    ), room AS (
        SELECT coalesce(max(siblings.variant_index) + 1, 0) AS variant_index
          FROM siblings
        HAVING p_max_siblings IS NULL
            OR count(*) FILTER (WHERE siblings.recipient_client_id IS NULL
                                   OR siblings.recipient_client_id = p_recipient) < p_max_siblings
    ), deactivated AS (
        UPDATE messages m SET is_active = false, updated_at = clock_timestamp()
         WHERE m.session_id = p_session_id AND m.is_active
           AND coalesce(m.parent_id, '00000000-0000-0000-0000-000000000000'::uuid)
               = coalesce(p_parent_id, '00000000-0000-0000-0000-000000000000'::uuid)
           AND coalesce(m.recipient_client_id, '') = coalesce(p_recipient, '')
           AND EXISTS (SELECT 1 FROM room)
        RETURNING m.id
    ), user_message AS (
        INSERT INTO messages (id, session_id, parent_id, role, content, file_ids, variant_index, is_active,
                              recipient_client_id, metadata)
        SELECT p_user_message_id, p_session_id, p_parent_id, 'user', p_content, p_file_ids, room.variant_index,
               true, p_recipient, p_user_metadata
          FROM room
         WHERE p_user_message_id IS NOT NULL
        RETURNING id, created_at, variant_index
    ), assistant_message AS (
        INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active, is_complete,
                              recipient_client_id, metadata)
        SELECT p_assistant_message_id, p_session_id, coalesce((SELECT id FROM user_message), p_parent_id),
               'assistant', '[]', CASE WHEN p_user_message_id IS NULL THEN room.variant_index ELSE 0 END, true,
               false, p_recipient, p_assistant_metadata
          FROM room
         WHERE p_user_message_id IS NULL OR EXISTS (SELECT 1 FROM user_message)
        RETURNING id, variant_index
    ), live AS (
        INSERT INTO live_replies (message_id, session_id, resumable, lease_expires_at)
        SELECT id, p_session_id, p_resumable, clock_timestamp() + make_interval(secs => p_lease_seconds)
          FROM assistant_message
    )
    SELECT (SELECT id FROM user_message), a.id, coalesce((SELECT variant_index FROM user_message), a.variant_index),
           (SELECT created_at FROM user_message), (SELECT count(*) FROM deactivated)
      FROM assistant_message a;
END
$fn$;

-- The common send's transaction 1 in one round trip: lock the caller's session, then place the turn below
-- the owner's active leaf. A function because of snapshots: one statement reads the database as it was
-- when it started, so a statement that took the lock itself would walk the tree as it was before the lock's
-- last holder committed (a review reproduced misplaced turns, missed busy replies and a foreign-key failure
-- that way). Here each statement, after the lock, takes a fresh snapshot.
--
-- Returns no row when the session is not the caller's; otherwise the session with its type's backend
-- settings (session_settings, as jsonb), the history sent to the backend as one JSON array text (the
-- stored items of owner_path, or windowed_history's part of them), the reply still streaming on the active
-- path if any (when p_check_busy; then nothing is written), whether the turn was placed, how many messages
-- the path held before it, and the window applied (NULL: the whole path). app/chat/exchanges.py calls it through
-- sql/queries/messages.sql: send_turn.
--
-- Four statements, each as lean as its job: every statement a PL/pgSQL function runs pays for starting
-- an executor over its plan, and the place_turn call it replaces cost more than the rows it wrote (see
-- loadtests/statement_cost.py). Below the owner's leaf there is, by what a leaf is, no active owner
-- sibling to deactivate and no cap to check, so the turn is one two-row INSERT (the user message and its
-- reply) beside the reply's live row. The new user message takes the next variant index under the leaf:
-- a share recipient's branch may already hang there.
CREATE OR REPLACE FUNCTION send_turn(
    p_session_id uuid, p_client_id text, p_check_busy boolean, p_user_message_id uuid,
    p_assistant_message_id uuid, p_content jsonb, p_file_ids uuid[], p_resumable boolean,
    p_lease_seconds double precision)
RETURNS TABLE (session jsonb, history text, busy_message_id uuid, busy_lapsed boolean, placed boolean,
               path_messages integer, history_window jsonb)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_session jsonb;
    v_busy uuid;
    v_lapsed boolean;
    v_history text;
    v_leaf uuid;
    v_count integer;
    v_window jsonb;
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
    IF p_check_busy THEN
        -- busy_reply's query, written out: a function call per send costs more than the lookup.
        SELECT l.message_id, l.lease_expires_at < clock_timestamp() INTO v_busy, v_lapsed
          FROM live_replies l
          JOIN messages m ON m.session_id = p_session_id AND m.id = l.message_id
         WHERE l.session_id = p_session_id AND m.is_active AND m.recipient_client_id IS NULL
         ORDER BY l.started_at DESC
         LIMIT 1;
        IF v_busy IS NOT NULL THEN
            RETURN QUERY SELECT v_session, NULL::text, v_busy, v_lapsed, false, NULL::integer, NULL::jsonb;
            RETURN;
        END IF;
    END IF;
    -- Both aggregates read the walk in depth order from one sorted subquery (PostgreSQL's documented way
    -- to feed aggregates in order when nothing joins above it): an aggregate's own ORDER BY sorts its
    -- input again for each aggregate, 1.1 ms more PostgreSQL CPU per send at 1,000 messages.
    -- A session type with history_window_messages sends part of the path (windowed_history); the common case,
    -- the whole path, stays one aggregate.
    IF v_session ->> 'history_window_messages' IS NULL THEN
        SELECT '[' || coalesce(string_agg(p.history_item, ','), '') || ']', (array_agg(p.id))[count(*)], count(*)
          INTO v_history, v_leaf, v_count
          FROM (SELECT walk.id, walk.history_item FROM owner_path(p_session_id) walk ORDER BY walk.depth) p;
    ELSE
        SELECT (array_agg(p.id))[count(*)], count(*) INTO v_leaf, v_count
          FROM (SELECT walk.id FROM owner_path(p_session_id) walk ORDER BY walk.depth) p;
        SELECT w.history, w.history_window INTO v_history, v_window
          FROM windowed_history(p_session_id, v_leaf, (v_session ->> 'history_window_messages')::integer,
                                v_session -> 'metadata' -> 'summary') w;
    END IF;
    WITH turn AS (
        INSERT INTO messages (id, session_id, parent_id, role, content, file_ids, variant_index, is_active,
                              is_complete, metadata)
        SELECT new.id, p_session_id, new.parent_id, new.role, new.content, new.file_ids, new.variant_index,
               true, new.is_complete, new.metadata
          FROM (SELECT coalesce(max(taken.variant_index) + 1, 0) AS variant_index
                  FROM ((SELECT m.variant_index FROM messages m
                          WHERE m.session_id = p_session_id AND m.parent_id = v_leaf
                          ORDER BY m.variant_index DESC LIMIT 1)
                        UNION ALL
                        (SELECT m.variant_index FROM messages m
                          WHERE m.session_id = p_session_id AND m.parent_id IS NULL AND v_leaf IS NULL
                          ORDER BY m.variant_index DESC LIMIT 1)) taken) room,
               LATERAL (VALUES (p_user_message_id, v_leaf, 'user', p_content, p_file_ids, room.variant_index,
                                true, '{}'::jsonb),
                               (p_assistant_message_id, p_user_message_id, 'assistant', '[]'::jsonb, '{}'::uuid[],
                                0, false, jsonb_build_object('session_type_id', v_session ->> 'session_type_id')))
                   AS new (id, parent_id, role, content, file_ids, variant_index, is_complete, metadata)
        RETURNING messages.id, messages.role
    )
    INSERT INTO live_replies (message_id, session_id, resumable, lease_expires_at)
    SELECT turn.id, p_session_id, p_resumable, clock_timestamp() + make_interval(secs => p_lease_seconds)
      FROM turn
     WHERE turn.role = 'assistant';
    RETURN QUERY SELECT v_session, v_history, NULL::uuid, NULL::boolean, true, v_count, v_window;
END
$fn$;

-- The previous release's form of send_turn (its replicas call it during a rolling upgrade), now that
-- function under the old signature. The prefix parameters are ignored (items are rendered when written);
-- below the leaf nothing is deactivated. Drop it in the release after this one.
CREATE OR REPLACE FUNCTION continue_active_path(
    p_session_id uuid, p_client_id text, p_check_busy boolean, p_user_message_id uuid,
    p_assistant_message_id uuid, p_content jsonb, p_file_ids uuid[], p_resumable boolean,
    p_lease_seconds double precision, p_message_prefix text, p_session_prefix text)
RETURNS TABLE (session jsonb, history text, busy_message_id uuid, busy_lapsed boolean, placed boolean,
               deactivated bigint)
LANGUAGE sql VOLATILE AS $$
    SELECT t.session, t.history, t.busy_message_id, t.busy_lapsed, t.placed, 0::bigint
      FROM send_turn(p_session_id, p_client_id, p_check_busy, p_user_message_id, p_assistant_message_id,
                     p_content, p_file_ids, p_resumable, p_lease_seconds) t
$$;

-- A stored message as the webhook protocol's history item, rendered once per write.

-- The GTS id prefixes of app/ids.py, the one source of the id formats (tests/unit/test_ids.py holds these
-- equal to it).
CREATE OR REPLACE FUNCTION gts_message_prefix() RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'gts.hyperspot.chat_engine.entities.message.v1~'
$$;

CREATE OR REPLACE FUNCTION gts_session_prefix() RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'gts.hyperspot.chat_engine.entities.session.v1~'
$$;

-- A stored message as a webhook history item (the contract's Message schema), as JSON text. NULL for
-- what a backend never sees: a message hidden from it, or an empty placeholder. Rendered into
-- messages.history_item by the trigger below whenever a message is written or what the item shows
-- changes, so a send reads each item of its path as stored text and splices it into the request body:
-- no JSON is built per message of history on the send path (sql/migrations/013).
-- The form with the prefixes as parameters is the previous release's (its replicas call it mid-upgrade).
-- A change to what an item shows needs a migration that renders the stored items again
-- (UPDATE messages SET history_item = webhook_history_item(messages)), in batches on a large table.
CREATE OR REPLACE FUNCTION webhook_history_item(m messages, message_prefix text, session_prefix text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN m.is_hidden_from_llm OR m.content = '[]'::jsonb THEN NULL ELSE
        json_build_object(
            'message_id', message_prefix || m.id::text,
            'session_id', session_prefix || m.session_id::text,
            'role', m.role,
            'content', m.content,
            'parent_message_id', message_prefix || m.parent_id::text,
            'metadata', m.metadata,
            'file_ids', to_json(m.file_ids),
            'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
    END
$$;

CREATE OR REPLACE FUNCTION webhook_history_item(m messages) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT webhook_history_item(m, gts_message_prefix(), gts_session_prefix())
$$;

-- BEFORE INSERT OR UPDATE OF what an item shows (content, metadata, file ids, visibility to backends;
-- a message's place never changes): one rendering per write, none per read.
CREATE OR REPLACE FUNCTION messages_render_history_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.history_item := webhook_history_item(NEW);
    RETURN NEW;
END;
$$;

-- The history of a session type with history_window_messages (issue 24 §2), for a turn below `p_leaf`: the
-- system messages of the path above the window, then the stored summary (`p_summary`, metadata.summary) as
-- a system item marked `metadata.chat_engine_summary` when something is left out and the summary covers a
-- message of this path, then the last `p_window` messages the backend sees. With what it did, for the
-- event's session_metadata.chat_engine_history: {window_messages, omitted_messages, summary_id,
-- uncovered_messages (left out, and not covered by the summary sent)}. metadata.summary is the engine's
-- alone: clients may not write it (app/chat/metadata_limits.ENGINE_KEYS).
CREATE OR REPLACE FUNCTION windowed_history(p_session_id uuid, p_leaf uuid, p_window integer, p_summary jsonb)
RETURNS TABLE (history text, history_window jsonb)
LANGUAGE sql STABLE AS $$
    WITH path AS (
        SELECT up.id, up.role, up.history_item, up.height FROM path_ascent(p_leaf, p_session_id) up
    ), visible AS (
        SELECT path.*, row_number() OVER (ORDER BY path.height) AS from_end
          FROM path
         WHERE path.history_item IS NOT NULL
    ), covered AS (
        SELECT path.height FROM path
         WHERE gts_message_prefix() || path.id::text = p_summary ->> 'covers_through_message_id'
    ), summary AS (
        SELECT json_build_object(
                   'message_id', p_summary ->> 'summary_id',
                   'session_id', gts_session_prefix() || p_session_id::text,
                   'role', 'system',
                   'content', p_summary ->> 'text',
                   'metadata', json_build_object('chat_engine_summary', true, 'covers_through_message_id',
                                                 p_summary ->> 'covers_through_message_id'),
                   'created_at', p_summary ->> 'created_at')::text AS item
         WHERE (p_summary ->> 'is_complete') = 'true' AND coalesce(p_summary ->> 'text', '') <> ''
           AND EXISTS (SELECT 1 FROM visible WHERE visible.from_end > p_window)
           AND EXISTS (SELECT 1 FROM covered)
    )
    SELECT '[' || concat_ws(',',
               (SELECT string_agg(v.history_item, ',' ORDER BY v.height DESC) FROM visible v
                 WHERE v.from_end > p_window AND v.role = 'system'),
               (SELECT summary.item FROM summary),
               (SELECT string_agg(v.history_item, ',' ORDER BY v.height DESC) FROM visible v
                 WHERE v.from_end <= p_window)) || ']',
           jsonb_build_object(
               'window_messages', p_window,
               'omitted_messages', (SELECT count(*) FROM visible v WHERE v.from_end > p_window AND v.role <> 'system'),
               'summary_id', (SELECT p_summary ->> 'summary_id' FROM summary),
               -- left out and newer than what the summary covers (all of them when no summary is sent)
               'uncovered_messages', (SELECT count(*) FROM visible v
                                       WHERE v.from_end > p_window AND v.role <> 'system'
                                         AND (NOT EXISTS (SELECT 1 FROM summary)
                                              OR v.height < (SELECT covered.height FROM covered))))
$$;

-- The change feed's recording (sql/migrations/022): trigger functions that write a client's events, and the
-- wake-up they send its readers.

-- The key a client's feed readers listen under, on the reply channel (app/streams/wakeups.py: payloads are
-- "<uuid>:<kind>"): a uuid made from the client id (app/chat/feed.py spells it again, tests hold them equal).
CREATE OR REPLACE FUNCTION feed_key(p_client_id text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT md5('chat-engine-feed:' || p_client_id)::uuid
$$;

-- One event for a client, if the client follows a feed; its readers are woken.
CREATE OR REPLACE FUNCTION feed_record(p_client_id text, p_kind text, p_session_id uuid, p_message_id uuid,
                                       p_data jsonb) RETURNS void LANGUAGE sql VOLATILE AS $$
    WITH recorded AS (
        INSERT INTO client_events (client_id, kind, session_id, message_id, data)
        SELECT p_client_id, p_kind, p_session_id, p_message_id, p_data
         WHERE EXISTS (SELECT 1 FROM client_feeds f WHERE f.client_id = p_client_id)
        RETURNING 1
    )
    SELECT pg_notify(reply_channel(), feed_key(p_client_id)::text || ':feed') FROM recorded
$$;

-- Replies started and ended, the active path changed, messages deleted: events of the session's owner.
CREATE OR REPLACE FUNCTION feed_messages() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_client text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM client_feeds) THEN
        RETURN NULL;  -- nobody follows a feed: the common case costs this look
    END IF;
    IF TG_OP = 'DELETE' THEN
        SELECT s.client_id INTO v_client FROM sessions s WHERE s.id = OLD.session_id;
        IF v_client IS NOT NULL THEN  -- NULL: the whole session goes (its own event says so)
            PERFORM feed_record(v_client, 'message.deleted', OLD.session_id, OLD.id, '{}');
        END IF;
        RETURN NULL;
    END IF;
    SELECT s.client_id INTO v_client FROM sessions s WHERE s.id = NEW.session_id;
    IF TG_OP = 'INSERT' THEN
        PERFORM feed_record(v_client, 'reply.started', NEW.session_id, NEW.id, '{}');
        RETURN NULL;
    END IF;
    IF NEW.is_active AND NOT OLD.is_active THEN
        PERFORM feed_record(v_client, 'path.changed', NEW.session_id, NEW.id, '{}');
    END IF;
    IF NEW.role = 'assistant' AND (OLD.is_complete IS DISTINCT FROM NEW.is_complete
                                   OR (OLD.metadata -> 'stop_reason') IS DISTINCT FROM (NEW.metadata -> 'stop_reason')) THEN
        PERFORM feed_record(v_client, 'reply.ended', NEW.session_id, NEW.id,
                            jsonb_build_object('is_complete', NEW.is_complete,
                                               'stop_reason', NEW.metadata -> 'stop_reason'));
    END IF;
    RETURN NULL;
END;
$$;

-- Sessions created, updated (metadata: title, tags, summary; the session type), deleted.
CREATE OR REPLACE FUNCTION feed_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM client_feeds) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM feed_record(OLD.client_id, 'session.deleted', OLD.id, NULL, '{}');
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM feed_record(NEW.client_id, 'session.created', NEW.id, NULL, '{}');
    ELSE
        PERFORM feed_record(NEW.client_id, 'session.updated', NEW.id, NULL, '{}');
    END IF;
    RETURN NULL;
END;
$$;

-- A reaction set, changed or removed: an event of the client who reacted.
CREATE OR REPLACE FUNCTION feed_reactions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_row reactions;
    v_session uuid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM client_feeds) THEN
        RETURN NULL;
    END IF;
    v_row := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    -- The message still there: a reaction deleted with its message is no change of the client's.
    SELECT m.session_id INTO v_session FROM messages m WHERE m.session_id = v_row.session_id AND m.id = v_row.message_id;
    IF v_session IS NOT NULL THEN
        PERFORM feed_record(v_row.user_id, 'reaction.set', v_session, v_row.message_id,
                            jsonb_build_object('reaction_type',
                                               CASE WHEN TG_OP = 'DELETE' THEN 'none' ELSE v_row.reaction_type END));
    END IF;
    RETURN NULL;
END;
$$;

-- PostgreSQL plans a SQL function it cannot inline again on every call. session_settings returned one
-- record through OUT parameters, which the planner does not inline; sql/functions/sessions.sql declares
-- it as returning a set of one row instead, and a function's result kind can only change by dropping it.
DROP FUNCTION IF EXISTS session_settings(sessions, session_types);

-- An empty placeholder or a message hidden from backends has no history item: inserting one need not call
-- the rendering function at all (one trigger call less per exchange). Updates still render every time.
DROP TRIGGER IF EXISTS messages_history_item ON messages;
CREATE TRIGGER messages_history_item_on_insert
    BEFORE INSERT ON messages
    FOR EACH ROW WHEN (NEW.content <> '[]'::jsonb AND NOT NEW.is_hidden_from_llm)
    EXECUTE FUNCTION messages_render_history_item();
CREATE TRIGGER messages_history_item_on_update
    BEFORE UPDATE OF content, metadata, file_ids, is_hidden_from_llm ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_render_history_item();

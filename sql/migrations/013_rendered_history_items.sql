-- A message's webhook history item, rendered once when the message is written or when what the item shows
-- changes, instead of on every send whose path holds it: building every item of the path on each send
-- made PostgreSQL's cost per exchange grow by ~21 µs per message of history (loadtests/reports/2026-12-04).
-- The trigger's function has its source in sql/functions/history.sql; created here first so that the
-- trigger can name it. The backfill holds the table's lock while it runs: about 30 µs a message here
-- (5 minutes for 10 million), during which every replica waits on messages. For a database that large,
-- run the upgrade in a maintenance window.
ALTER TABLE messages ADD COLUMN history_item text;

CREATE OR REPLACE FUNCTION messages_render_history_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.history_item := webhook_history_item(NEW, 'gts.hyperspot.chat_engine.entities.message.v1~',
                                             'gts.hyperspot.chat_engine.entities.session.v1~');
    RETURN NEW;
END;
$$;

CREATE TRIGGER messages_history_item
    BEFORE INSERT OR UPDATE OF content, metadata, file_ids, is_hidden_from_llm ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_render_history_item();

UPDATE messages SET history_item = webhook_history_item(messages, 'gts.hyperspot.chat_engine.entities.message.v1~',
                                                        'gts.hyperspot.chat_engine.entities.session.v1~');

-- Issue 25 §3, a change feed per client (GET /api/v1/events; app/chat/feed.py). `client_feeds` holds the
-- clients that follow one (seen within FEED_RETENTION_SECONDS); only their changes are recorded, as rows of
-- `client_events`, by triggers on the tables that change (sql/functions/feed.sql), so no code path can
-- forget one and a client with no feed costs a trigger call that finds nobody.
--
-- Order: by (tx, id), `tx` the writing transaction's id. A reader hands out only rows of transactions older
-- than every transaction still running (pg_snapshot_xmin), so a row that commits later can never land
-- behind a cursor already handed out: id order alone would allow that (ids are taken before commit).
CREATE TABLE client_feeds (
    client_id  text PRIMARY KEY,
    seen_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE client_events (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tx          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    client_id   text NOT NULL,
    kind        text NOT NULL,
    session_id  uuid,
    message_id  uuid,
    data        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, tx, id)
);
CREATE INDEX client_events_by_age ON client_events (created_at);

-- The triggers' functions have their source in sql/functions/feed.sql (applied after the migrations); these
-- stand-ins exist so that the triggers can name them.
CREATE FUNCTION feed_messages() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;
CREATE FUNCTION feed_sessions() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;
CREATE FUNCTION feed_reactions() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;

CREATE TRIGGER messages_feed_insert AFTER INSERT ON messages FOR EACH ROW
    WHEN (NEW.role = 'assistant' AND NOT NEW.is_complete AND NEW.recipient_client_id IS NULL)
    EXECUTE FUNCTION feed_messages();
CREATE TRIGGER messages_feed_update AFTER UPDATE ON messages FOR EACH ROW
    WHEN (NEW.recipient_client_id IS NULL
          AND (OLD.is_complete IS DISTINCT FROM NEW.is_complete
               OR (OLD.metadata -> 'stop_reason') IS DISTINCT FROM (NEW.metadata -> 'stop_reason')
               OR (NEW.is_active AND NOT OLD.is_active)))
    EXECUTE FUNCTION feed_messages();
CREATE TRIGGER messages_feed_delete AFTER DELETE ON messages FOR EACH ROW
    WHEN (OLD.recipient_client_id IS NULL)
    EXECUTE FUNCTION feed_messages();
CREATE TRIGGER sessions_feed_insert AFTER INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION feed_sessions();
CREATE TRIGGER sessions_feed_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (OLD.metadata IS DISTINCT FROM NEW.metadata OR OLD.session_type_id IS DISTINCT FROM NEW.session_type_id)
    EXECUTE FUNCTION feed_sessions();
CREATE TRIGGER sessions_feed_delete AFTER DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION feed_sessions();
CREATE TRIGGER reactions_feed AFTER INSERT OR UPDATE OR DELETE ON reactions FOR EACH ROW
    EXECUTE FUNCTION feed_reactions();

-- Per session type (issue 24): conversations that last. Each is off (NULL) unless set.
--   auto_summary_every_messages: ask for a summary in the background once the active path has grown this
--     many messages past the last one (app/streams/follow_ups.py).
--   history_window_messages: message.new carries the path's system messages, the summary covering what is
--     left out (if one does), and only the last N messages (sql/functions/history.sql: windowed_history).
--   retention_days: sessions not updated for longer are deleted by the sweep (app/chat/erasure.py).
ALTER TABLE session_types
    ADD COLUMN auto_summary_every_messages integer CHECK (auto_summary_every_messages BETWEEN 2 AND 100000),
    ADD COLUMN history_window_messages integer CHECK (history_window_messages BETWEEN 1 AND 100000),
    ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36500);

-- No index on sessions.updated_at for the retention sweep: every exchange updates it, and an index on it
-- would make each of those updates a non-HOT one (the hot path's cost). The sweep scans sessions once per
-- RETENTION_SWEEP_SECONDS instead, cluster-wide (app/chat/retention.py).
CREATE TABLE maintenance_runs (
    name             text PRIMARY KEY,
    last_started_at  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO maintenance_runs (name) VALUES ('retention');

-- DELETE /api/v1/me/data finds what a client wrote in others' sessions: its branches as a share recipient
-- (few rows: the partial index holds only recipients' messages) and its reactions.
CREATE INDEX messages_by_recipient ON messages (recipient_client_id) WHERE recipient_client_id IS NOT NULL;
CREATE INDEX reactions_by_user ON reactions (user_id);

-- Sessions.

-- A session with its type's backend settings: what every statement that starts an exchange reads, the
-- one list of those columns. It takes the rows, not an id: a caller locks the session row in a
-- subquery that returns it, `(SELECT s, t FROM ... FOR NO KEY UPDATE OF s) locked`, and calls this on
-- what that returns (`CROSS JOIN LATERAL session_settings(locked.s, locked.t)`: one call a row). The
-- locking subquery's row is the session as the lock's last holder left it; a function applied beside
-- the lock, in the same FROM list, read the version from before the wait (a test caught it).
-- Declared as returning a set (of one row) so that the planner inlines it into the calling statement: a
-- SQL function it cannot inline is planned again on every call (sql/migrations/015 dropped the earlier form).
CREATE OR REPLACE FUNCTION session_settings(s sessions, t session_types)
RETURNS TABLE (id uuid, client_id text, session_type_id text, available_capabilities jsonb, metadata jsonb,
               webhook_url text, timeout_seconds integer, summarization_enabled boolean, summarization_url text,
               summarization_settings jsonb, accepts_files boolean, webhook_secret text,
               max_reply_seconds integer, breaker_failure_threshold integer, breaker_open_seconds integer,
               breaker_half_open_probes integer, history_window_messages integer,
               auto_summary_every_messages integer)
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.client_id, s.session_type_id, s.available_capabilities, s.metadata,
           t.webhook_url, t.timeout_seconds, t.summarization_enabled, t.summarization_url, t.summarization_settings,
           files_accepted(t.accepts_files, s.available_capabilities),
           t.webhook_secret, t.max_reply_seconds, t.breaker_failure_threshold, t.breaker_open_seconds,
           t.breaker_half_open_probes, t.history_window_messages,
           CASE WHEN t.summarization_enabled THEN t.auto_summary_every_messages END
$$;

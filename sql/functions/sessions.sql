-- Sessions.

-- A session with its type's backend settings: what every statement that starts an exchange reads, the
-- one list of those columns. It takes the rows, not an id: a caller locks the session row in a
-- subquery that returns it, `(SELECT s, t FROM ... FOR NO KEY UPDATE OF s) locked`, and calls this on
-- what that returns (`CROSS JOIN LATERAL session_settings(locked.s, locked.t)`: one call a row). The
-- locking subquery's row is the session as the lock's last holder left it; a function applied beside
-- the lock, in the same FROM list, read the version from before the wait (a test caught it).
CREATE OR REPLACE FUNCTION session_settings(
    s sessions, t session_types,
    OUT id uuid, OUT client_id text, OUT session_type_id text, OUT available_capabilities jsonb,
    OUT metadata jsonb, OUT webhook_url text, OUT timeout_seconds integer, OUT summarization_enabled boolean,
    OUT summarization_url text, OUT summarization_settings jsonb, OUT accepts_files boolean,
    OUT webhook_secret text, OUT max_reply_seconds integer, OUT breaker_failure_threshold integer,
    OUT breaker_open_seconds integer, OUT breaker_half_open_probes integer)
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.client_id, s.session_type_id, s.available_capabilities, s.metadata,
           t.webhook_url, t.timeout_seconds, t.summarization_enabled, t.summarization_url, t.summarization_settings,
           session_accepts_files(s.session_type_id, s.available_capabilities),
           t.webhook_secret, t.max_reply_seconds, t.breaker_failure_threshold, t.breaker_open_seconds,
           t.breaker_half_open_probes
$$;

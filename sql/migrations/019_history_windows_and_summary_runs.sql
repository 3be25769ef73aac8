-- Issue 24 §1 and §2. session_settings returns the conversation settings too, and send_turn returns the
-- path's length and the history window it applied: both result types change, so both are dropped here and
-- defined again by sql/functions in the same transaction (app/migrations.py). A replica of the previous
-- release reads the same columns it knew, by name, plus ones it ignores.
DROP FUNCTION IF EXISTS session_settings(sessions, session_types);
DROP FUNCTION IF EXISTS send_turn(uuid, text, boolean, uuid, uuid, jsonb, uuid[], boolean, double precision);

-- A summary asked for in the background (auto_summary_every_messages), one per session at a time across all
-- instances: its row is claimed before the request and deleted with the stored summary; a claim older than
-- the longest a summary may take (its instance died) may be taken over (app/chat/exchanges.py).
CREATE TABLE summary_runs (
    session_id  uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

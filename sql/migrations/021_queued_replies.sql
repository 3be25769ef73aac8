-- Issue 25 §2, `if_busy: enqueue`: a send while a reply streams stores its user message and an empty reply
-- below it at once, and the reply waits here, without a live row (no lease, no instance), until the reply
-- ahead of it ends; whichever instance ends that one starts it (app/streams/follow_ups.py).
CREATE TABLE queued_replies (
    message_id            uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    session_id            uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_message_id       uuid NOT NULL,
    enabled_capabilities  jsonb NOT NULL,
    queued_at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX queued_replies_by_session ON queued_replies (session_id, queued_at);

-- A notice names the session it is about, so that erasing a client's sessions also removes what pending
-- notices and dead letters hold of them (message.aborted carries partial content, message.reaction the
-- reacting user): only their session.deleted is still delivered (app/chat/erasure.py).
ALTER TABLE webhook_notices ADD COLUMN session_id uuid;
CREATE INDEX webhook_notices_by_session ON webhook_notices (session_id) WHERE session_id IS NOT NULL;

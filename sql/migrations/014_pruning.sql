-- Nothing grows without bound: what the sweep prunes needs a way to find its oldest rows cheaply.
-- A reply's chunk log is kept for late rejoiners, then forgotten (a rejoin replays the stored message):
-- each row records when it was stored; a BRIN index keeps finding old rows cheap on an append-mostly table
-- and costs next to nothing per insert.
ALTER TABLE reply_chunks ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX reply_chunks_by_age ON reply_chunks USING brin (stored_at);

-- Share links that stopped working (revoked or expired) are deleted once past their retention.
CREATE INDEX share_tokens_ended ON share_tokens (least(revoked_at, expires_at))
    WHERE revoked_at IS NOT NULL OR expires_at IS NOT NULL;

-- Backend notices, an outbox (app/webhooks/outbox.py).

-- name: enqueue_notice!
-- A notice, written in the caller's transaction: it exists exactly when the change it tells of commits.
INSERT INTO webhook_notices (event_id, session_type_id, url, event, body, trace_id, session_id, headers)
VALUES (%(event_id)s, %(session_type_id)s, %(url)s, %(event)s, %(body)s, %(trace_id)s, %(session_id)s, %(headers)s);

-- name: forget_session_notices!
-- Erased sessions: their pending notices and dead letters go, but the session.deleted the erasure writes.
DELETE FROM webhook_notices WHERE session_id = ANY(%(ids)s) AND event <> 'session.deleted';

-- name: claim_due_notices*
-- Claim up to `limit` pending notices that are due: each is pushed `claim_seconds` into the future, so other deliverers skip it while this one tries, and one takes it back if this one dies mid-try. Where to send it is read now: a rotated secret signs the next attempt.
WITH due AS (
    SELECT event_id FROM webhook_notices
     WHERE dead_at IS NULL AND due_at <= clock_timestamp()
     ORDER BY due_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE webhook_notices n
   SET due_at = clock_timestamp() + make_interval(secs => %(claim_seconds)s), attempts = n.attempts + 1
  FROM due
 WHERE n.event_id = due.event_id
RETURNING n.event_id, n.event, n.body, n.attempts, n.session_type_id, n.trace_id, n.headers,
          clock_timestamp() - n.created_at > %(retry_hours)s * interval '1 hour' AS expired,
          (SELECT coalesce(n.url, t.webhook_url) FROM session_types t WHERE t.id = n.session_type_id) AS webhook_url,
          (SELECT t.webhook_secret FROM session_types t WHERE t.id = n.session_type_id) AS webhook_secret;

-- name: notice_delivered!
-- The backend took it: nothing more to do.
DELETE FROM webhook_notices WHERE event_id = %(event_id)s;

-- name: notice_failed!
-- An attempt failed: try again after `delay_seconds`, or keep it as a dead letter (`dead`); unless another deliverer took the notice over meanwhile (its claim counted another attempt).
UPDATE webhook_notices
   SET last_error = %(error)s,
       due_at = clock_timestamp() + make_interval(secs => %(delay_seconds)s),
       dead_at = CASE WHEN %(dead)s THEN clock_timestamp() END
 WHERE event_id = %(event_id)s AND attempts = %(attempts)s;  -- still our claim: a lapsed one was taken over

-- name: notice_counts^
-- Pending notices and dead letters, for the metrics.
SELECT count(*) FILTER (WHERE dead_at IS NULL) AS pending,
       count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead
  FROM webhook_notices;

-- name: prune_dead_notices!
-- Dead letters past their retention, in a bounded batch.
DELETE FROM webhook_notices
 WHERE event_id IN (SELECT event_id FROM webhook_notices
                     WHERE dead_at < clock_timestamp() - %(retention_days)s * interval '1 day'
                     LIMIT %(limit)s);

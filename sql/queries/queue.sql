-- Replies waiting for the one ahead of them (`if_busy: enqueue`; app/chat/exchanges.py, app/streams/follow_ups.py).

-- name: queue_length^
-- How many replies of a session wait, and the newest of them (what a new one waits for, after them).
SELECT count(*) AS waiting,
       (SELECT message_id FROM queued_replies WHERE session_id = %(session_id)s ORDER BY queued_at DESC LIMIT 1)
           AS last
  FROM queued_replies
 WHERE session_id = %(session_id)s;

-- name: queue_reply!
-- A reply just placed (with its live row) is made to wait instead: its live row goes, its queue row comes.
-- Its change feed event says so: this transaction's `reply.started` for it becomes `reply.queued`.
WITH unleased AS (
    DELETE FROM live_replies WHERE session_id = %(session_id)s AND message_id = %(message_id)s RETURNING message_id
), unstarted AS (
    UPDATE client_events SET kind = 'reply.queued'
     WHERE client_id = (SELECT s.client_id FROM sessions s WHERE s.id = %(session_id)s)
       AND tx = pg_current_xact_id() AND message_id = %(message_id)s AND kind = 'reply.started'
)
INSERT INTO queued_replies (message_id, session_id, user_message_id, enabled_capabilities)
SELECT message_id, %(session_id)s, %(user_message_id)s, %(enabled)s FROM unleased;

-- name: start_queued_reply^
-- Under the session's row lock: when no reply of the owner streams in the session any more, the oldest waiting one becomes live (leased to this instance, watched: its rejoiners, the sender among them, are woken by its chunks and end) and its waiters are woken. No row: nothing to start.
WITH next AS (
    SELECT q.message_id, q.user_message_id, q.enabled_capabilities
      FROM queued_replies q
     WHERE q.session_id = %(session_id)s AND NOT EXISTS (SELECT 1 FROM busy_reply(%(session_id)s))
     ORDER BY q.queued_at
     LIMIT 1
       FOR UPDATE SKIP LOCKED
), taken AS (
    DELETE FROM queued_replies q USING next
     WHERE q.session_id = %(session_id)s AND q.message_id = next.message_id
    RETURNING q.message_id
), leased AS (
    INSERT INTO live_replies (message_id, session_id, resumable, lease_expires_at, watched)
    SELECT message_id, %(session_id)s, true, clock_timestamp() + make_interval(secs => %(lease_seconds)s), true
      FROM taken
    RETURNING message_id
)
SELECT next.message_id, next.user_message_id, next.enabled_capabilities,
       notify_reply(leased.message_id, 'start') AS notified,
       feed_record((SELECT s.client_id FROM sessions s WHERE s.id = %(session_id)s), 'reply.started',
                   %(session_id)s, leased.message_id, '{}') AS recorded
  FROM next JOIN leased USING (message_id);

-- name: cancel_queued_reply^
-- Take a waiting reply out of the queue, stored incomplete with `reason` (its waiters woken). No row: it was not waiting.
WITH taken AS (
    DELETE FROM queued_replies WHERE session_id = %(session_id)s AND message_id = %(message_id)s
    RETURNING message_id, session_id
)
UPDATE messages m
   SET metadata = m.metadata || jsonb_build_object('stop_reason', %(reason)s::text), is_complete = false,
       updated_at = clock_timestamp()
  FROM taken
 WHERE m.session_id = %(session_id)s AND m.id = taken.message_id
RETURNING m.id, taken.session_id, notify_reply(m.id, 'end') AS notified;

-- name: queued_replies_of_session*
-- A session's waiting replies, oldest first.
SELECT message_id FROM queued_replies WHERE session_id = %(session_id)s ORDER BY queued_at;

-- name: sessions_with_idle_queues*
-- Sessions with replies waiting and none of the owner's streaming: each wants its next reply started (a backstop for an instance that died between ending a reply and starting the next).
SELECT DISTINCT q.session_id
  FROM queued_replies q
 WHERE NOT EXISTS (SELECT 1 FROM busy_reply(q.session_id))
 LIMIT %(limit)s;

-- name: lock_queueing_session^
-- Lock a session for starting its next waiting reply, whoever owns it (the engine acts for the owner), and read its backend settings.
SELECT settings.*
  FROM (SELECT s, t FROM sessions s JOIN session_types t ON t.id = s.session_type_id
         WHERE s.id = %(id)s
           FOR NO KEY UPDATE OF s) locked
 CROSS JOIN LATERAL session_settings(locked.s, locked.t) settings;

-- name: session_of_message$
-- The session a message belongs to.
SELECT session_id FROM messages WHERE id = %(id)s;

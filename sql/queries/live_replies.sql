-- name: finish_live_reply^
-- Store a reply's end if its live row is still ours to claim: session first (lock order), then the claim, the last chunks (rows of bounded size, as append_reply_chunks) and the message; wakes whoever watches it (a mark made before the claim is seen: the DELETE waits for the marking transaction and reads the row it left). No row: another party (a stop, a superseding send, the sweep) ended it first.
WITH touched AS (
    UPDATE sessions SET updated_at = clock_timestamp()
     WHERE id = %(session_id)s
    RETURNING id
), claimed AS (
    DELETE FROM live_replies l
     USING touched
     WHERE l.session_id = %(session_id)s AND l.message_id = %(message_id)s  -- `touched`: none when the session is gone
    RETURNING l.message_id, l.watched
), tail AS (
    INSERT INTO reply_chunks AS c (session_id, message_id, first_index, chunks)
    SELECT %(session_id)s, claimed.message_id, (b ->> 'first_index')::integer, b -> 'chunks'
      FROM claimed, jsonb_array_elements(%(batches)s) b
    ON CONFLICT (session_id, message_id, first_index) DO UPDATE SET chunks = EXCLUDED.chunks
     WHERE jsonb_array_length(EXCLUDED.chunks) > jsonb_array_length(c.chunks)  -- a flush whose commit went unseen
    RETURNING 1
)
UPDATE messages m
   SET content = %(content)s, is_complete = %(is_complete)s,
       metadata = m.metadata || %(metadata)s, updated_at = clock_timestamp()
  FROM claimed
 WHERE m.session_id = %(session_id)s AND m.id = claimed.message_id
RETURNING m.id, (SELECT count(*) FROM tail) AS tail_batches,
          CASE WHEN claimed.watched THEN notify_reply(m.id, 'end') END AS notified,
          EXISTS (SELECT 1 FROM queued_replies q WHERE q.session_id = %(session_id)s) AS queue_waiting;

-- name: lock_session_row^
-- Lock one session row (tree writes in it serialize on this lock, on every instance).
SELECT id FROM sessions WHERE id = %(id)s FOR NO KEY UPDATE;

-- name: claim_live_reply^
-- Take over a live reply to end it here (abandoned: a lapsed lease, or a dead owner once this server's workers have been attached %(judge_settle)s seconds (NULL: never); or a stop its instance did not carry out in time).
DELETE FROM live_replies
 WHERE session_id = %(session_id)s AND message_id = %(message_id)s
   AND (NOT %(lapsed_only)s OR lease_expires_at < clock_timestamp()
        OR reply_owner_gone(owner_key, started_at, (SELECT live_reply_owner_keys(%(judge_settle)s))))
RETURNING message_id, session_id;

-- name: all_reply_chunks*
-- Every stored chunk batch of a reply, in order.
SELECT first_index, chunks FROM reply_chunks
 WHERE session_id = %(session_id)s AND message_id = %(message_id)s
 ORDER BY first_index;

-- name: end_abandoned_reply!
-- Store the end of a reply that its own instance did not store (content rebuilt from its chunks).
UPDATE messages
   SET content = %(content)s, is_complete = false, metadata = metadata || %(metadata)s,
       updated_at = clock_timestamp()
 WHERE session_id = %(session_id)s AND id = %(message_id)s
RETURNING id, notify_reply(id, 'end') AS notified;

-- name: end_unstored_reply!
-- The last resort when the database refuses a reply's content: its end and why are stored, its content stays as it was.
UPDATE messages
   SET is_complete = false, metadata = metadata || %(metadata)s, updated_at = clock_timestamp()
 WHERE session_id = %(session_id)s AND id = %(message_id)s
RETURNING id, notify_reply(id, 'end') AS notified;

-- name: renew_leases*
-- Extend this instance's leases (of replies %(message_ids)s, in sessions %(session_ids)s: a message id is never reused, so the two lists need no pairing); returns the rows still live, with any stop asked for meanwhile.
UPDATE live_replies l SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
 WHERE l.session_id = ANY(%(session_ids)s::uuid[]) AND l.message_id = ANY(%(message_ids)s::uuid[])
RETURNING l.message_id, l.stop_requested;

-- name: lapsed_replies*
-- Live replies whose instance stopped renewing their lease, or (once this server's workers have been attached %(judge_settle)s seconds) whose owner's lock is missing: to be ended as interrupted (the second kind once the lock is seen missing again).
SELECT message_id, session_id, lease_expires_at >= clock_timestamp() AS owner_missing FROM live_replies
 WHERE lease_expires_at < clock_timestamp()
    OR reply_owner_gone(owner_key, started_at, (SELECT live_reply_owner_keys(%(judge_settle)s)))
 ORDER BY lease_expires_at
 LIMIT %(limit)s;

-- name: reply_owner_gone$
-- Whether a live reply's owner lock is missing (its instance may be dead): asked only of a reply in a send's way.
SELECT reply_owner_gone(owner_key, started_at, (SELECT live_reply_owner_keys(%(judge_settle)s))) FROM live_replies
 WHERE session_id = %(session_id)s AND message_id = %(message_id)s;

-- name: request_stop^
-- Ask the instance streaming a reply to stop it (it hears at once through NOTIFY, or at its next lease renewal); the asker then waits for the end, so the row is marked watched.
UPDATE live_replies SET stop_requested = coalesce(stop_requested, %(reason)s), watched = true
 WHERE session_id = %(session_id)s AND message_id = %(message_id)s
RETURNING message_id, stop_requested,
          notify_reply(message_id, 'stop:' || coalesce(stop_requested, %(reason)s))
              AS notified;

-- name: watch_live_reply!
-- Mark a live reply as waited for, before reading its state: its end and chunk batches are announced from then on.
UPDATE live_replies SET watched = true
 WHERE session_id = %(session_id)s AND message_id = %(message_id)s AND NOT watched;

-- name: live_reply^
-- A reply's live row, if it is still streaming, and whether its lease has lapsed.
SELECT message_id, session_id, resumable, lease_expires_at < clock_timestamp() AS lapsed
  FROM live_replies WHERE session_id = %(session_id)s AND message_id = %(message_id)s;

-- name: busy_reply_of_session^
-- The owner's reply still streaming in a session (on the active path), if any.
SELECT message_id, lapsed FROM busy_reply(%(session_id)s);

-- name: owned_reply_head^
-- A message of a caller's session, without its content (a rejoin's check: it reads the content in bounded pieces).
SELECT m.id, m.session_id, m.role, m.is_hidden_from_user, m.recipient_client_id
  FROM messages m
  JOIN sessions s ON s.id = m.session_id AND s.client_id = %(client_id)s
 WHERE m.id = %(message_id)s;

-- name: reply_state^
-- What a rejoining client reads, in one snapshot: the reply's stored state, whether it still streams, and its next chunks from an offset, bounded: from the batch holding the offset, at most max_batches batches and max_chunks chunks, those that begin before max_bytes (at least one); a chunk larger than max_bytes comes without its content (read in slices: reply_chunk_slice); `more`: chunks are left for the next read.
WITH batches AS (
    SELECT first_index, chunks FROM reply_chunks
     WHERE session_id = %(session_id)s AND message_id = %(message_id)s
       AND first_index >= coalesce((SELECT max(first_index) FROM reply_chunks
                                     WHERE session_id = %(session_id)s AND message_id = %(message_id)s
                                       AND first_index <= %(offset)s), 0)
     ORDER BY first_index
     LIMIT %(max_batches)s
), after_offset AS (
    SELECT b.first_index + e.n - 1 AS index, e.chunk, octet_length(e.chunk::text) AS size
      FROM batches b, jsonb_array_elements(b.chunks) WITH ORDINALITY AS e(chunk, n)
     WHERE b.first_index + e.n - 1 >= %(offset)s
), page AS (
    SELECT CASE WHEN size > %(max_bytes)s THEN chunk - 'content' ELSE chunk END AS chunk, index,
           sum(least(size, %(max_bytes)s)) OVER w - least(size, %(max_bytes)s) AS bytes_before,
           row_number() OVER w AS rank
      FROM after_offset
    WINDOW w AS (ORDER BY index)
)
SELECT m.id, m.is_complete, m.metadata,
       (l.message_id IS NOT NULL OR EXISTS (SELECT 1 FROM queued_replies q
                                              WHERE q.session_id = %(session_id)s AND q.message_id = m.id)) AS live,
       EXISTS (SELECT 1 FROM reply_chunks c WHERE c.session_id = %(session_id)s AND c.message_id = m.id) AS has_chunks,
       coalesce((SELECT jsonb_agg(chunk ORDER BY index) FROM page
                  WHERE bytes_before < %(max_bytes)s AND rank <= %(max_chunks)s), '[]') AS chunks,
       EXISTS (SELECT 1 FROM page WHERE bytes_before >= %(max_bytes)s OR rank > %(max_chunks)s)
           OR EXISTS (SELECT 1 FROM reply_chunks c
                       WHERE c.session_id = %(session_id)s AND c.message_id = m.id
                         AND c.first_index > (SELECT max(first_index) FROM batches)) AS more
  FROM messages m
  LEFT JOIN live_replies l ON l.session_id = %(session_id)s AND l.message_id = m.id
 WHERE m.session_id = %(session_id)s AND m.id = %(message_id)s;

-- name: reply_chunk_slice$
-- Characters [start, start + length) of the content of one stored chunk too large to read whole (1-based, as substr); None once it is gone.
SELECT substr(c.chunks -> (%(index)s - c.first_index) ->> 'content', %(start)s, %(length)s)
  FROM reply_chunks c
 WHERE c.session_id = %(session_id)s AND c.message_id = %(message_id)s
   AND c.first_index = (SELECT max(first_index) FROM reply_chunks
                         WHERE session_id = %(session_id)s AND message_id = %(message_id)s
                           AND first_index <= %(index)s);

-- name: reply_parts_page^
-- A replay of a reply stored without its chunk log: its content parts after ordinal `after`, at most max_parts, those that begin before max_bytes (at least one); a part larger than max_bytes comes without its payload fields (read in slices: reply_part_slice); None once the message is gone.
WITH parts AS (
    SELECT e.n, e.part, octet_length(e.part::text) AS size
      FROM messages m, jsonb_array_elements(m.content) WITH ORDINALITY AS e(part, n)
     WHERE m.session_id = %(session_id)s AND m.id = %(message_id)s AND e.n > %(after)s
), page AS (
    SELECT CASE WHEN size > %(max_bytes)s THEN part - %(payload_fields)s::text[] ELSE part END AS part, n,
           sum(least(size, %(max_bytes)s)) OVER w - least(size, %(max_bytes)s) AS bytes_before,
           row_number() OVER w AS rank
      FROM parts
    WINDOW w AS (ORDER BY n)
)
SELECT coalesce((SELECT jsonb_agg(part ORDER BY n) FROM page
                  WHERE bytes_before < %(max_bytes)s AND rank <= %(max_parts)s), '[]') AS parts,
       EXISTS (SELECT 1 FROM page WHERE bytes_before >= %(max_bytes)s OR rank > %(max_parts)s) AS more
  FROM messages
 WHERE session_id = %(session_id)s AND id = %(message_id)s;

-- name: reply_part_slice$
-- Characters [start, start + length) of the payload of one stored content part too large to read whole (ordinal 1-based); None once it is gone.
SELECT substr(content -> (%(ordinal)s - 1) ->> %(field)s, %(start)s, %(length)s)
  FROM messages
 WHERE session_id = %(session_id)s AND id = %(message_id)s;

-- name: session_type_of$
-- A session's type: whose backend hears of it (message.aborted when another instance ends a reply).
SELECT session_type_id FROM sessions WHERE id = %(id)s;

-- name: reply_end^
-- How a reply was stored (for a save retried after a lost connection: did the attempt before commit?).
SELECT is_complete, metadata->>'stop_reason' AS stop_reason, content FROM messages
 WHERE session_id = %(session_id)s AND id = %(message_id)s;

-- name: prune_chunk_logs$
-- Forget the chunk logs of up to %(limit)s replies that ended more than %(grace_seconds)s ago (run by the sweep; a rejoin then replays the stored message): a reply's log goes whole, never while it is live; returns how many rows went. The cutoff is computed once (an InitPlan), so the BRIN on stored_at finds the candidates.
WITH cutoff AS MATERIALIZED (
    SELECT clock_timestamp() - make_interval(secs => %(grace_seconds)s) AS at
), old AS MATERIALIZED (
    SELECT DISTINCT c.session_id, c.message_id
      FROM reply_chunks c
     WHERE c.stored_at < (SELECT at FROM cutoff)
     LIMIT %(limit)s
), ended AS (
    SELECT old.session_id, old.message_id
      FROM old
      JOIN messages m ON m.session_id = old.session_id AND m.id = old.message_id
     WHERE m.updated_at < (SELECT at FROM cutoff)
       AND NOT EXISTS (SELECT 1 FROM live_replies l
                        WHERE l.session_id = old.session_id AND l.message_id = old.message_id)
), gone AS (
    DELETE FROM reply_chunks c USING ended
     WHERE c.session_id = ended.session_id AND c.message_id = ended.message_id
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: chunk_log_gone$
-- Whether a reply has ended and holds no chunk log (pruned after its grace, or it never streamed a chunk). A rejoin's check, by the message's id alone (its request has no session): the session is looked up once, and the live row and the log in it.
WITH reply AS (SELECT m.session_id FROM messages m WHERE m.id = %(message_id)s)
SELECT NOT EXISTS (SELECT 1 FROM live_replies WHERE session_id = (SELECT session_id FROM reply)
                                                AND message_id = %(message_id)s)
   AND NOT EXISTS (SELECT 1 FROM reply_chunks WHERE session_id = (SELECT session_id FROM reply)
                                                AND message_id = %(message_id)s);

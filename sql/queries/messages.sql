-- name: active_path*
-- The owner's active path of a session from its root down (the flags a send decides on, the stored history items).
SELECT id, parent_id, role, is_active, is_hidden_from_user, recipient_client_id, history_item
  FROM path_descent(%(session_id)s) ORDER BY depth;

-- name: ancestor_path*
-- The path from the root down to one message of a session (inclusive), in active_path's shape.
SELECT id, parent_id, role, is_active, is_hidden_from_user, recipient_client_id, history_item
  FROM path_ascent(%(message_id)s, %(session_id)s) ORDER BY height DESC;

-- name: sibling_page*
-- A page of the owner's visible children (variants) of one node of a session (parent_id null: its roots) after variant_index %(after_index)s: at most %(limit)s, and no more content than %(max_bytes)s unless one sibling alone is larger. One lookup per sibling plus one past the page (`more` on every row: siblings follow); `total_variants`: the owner's siblings.
WITH RECURSIVE walk AS (
    -- Each lookup returns the content's reference (a TOAST pointer) and its size is taken only for the
    -- one sibling found: never every sibling's content, however many there are.
    SELECT first.id, first.variant_index, octet_length(first.content::text)::bigint AS bytes_so_far, 1 AS n
      FROM (SELECT m.id, m.variant_index, m.content
              FROM messages m
             WHERE m.session_id = %(session_id)s AND m.recipient_client_id IS NULL AND NOT m.is_hidden_from_user
               AND (m.parent_id = %(parent_id)s OR (m.parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
               AND m.variant_index > %(after_index)s
             ORDER BY m.variant_index
             LIMIT 1) first
    UNION ALL
    SELECT next.id, next.variant_index, walk.bytes_so_far + octet_length(next.content::text), walk.n + 1
      FROM walk
     CROSS JOIN LATERAL (
           SELECT m.id, m.variant_index, m.content
             FROM messages m
            WHERE m.session_id = %(session_id)s AND m.recipient_client_id IS NULL AND NOT m.is_hidden_from_user
              AND (m.parent_id = %(parent_id)s OR (m.parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
              AND m.variant_index > walk.variant_index
            ORDER BY m.variant_index
            LIMIT 1
     ) next
     -- Only a sibling on the page looks further, so the walk ends one sibling past the page.
     WHERE walk.n <= %(limit)s AND (walk.n = 1 OR walk.bytes_so_far <= %(max_bytes)s)
), page AS (
    SELECT id, n FROM walk WHERE n <= %(limit)s AND (n = 1 OR bytes_so_far <= %(max_bytes)s)
)
SELECT m.*, (SELECT count(*) FROM walk) > (SELECT count(*) FROM page) AS more,
       (SELECT count(*) FROM messages s
         WHERE s.session_id = %(session_id)s AND s.recipient_client_id IS NULL
           AND (s.parent_id = %(parent_id)s OR (s.parent_id IS NULL AND %(parent_id)s::uuid IS NULL))) AS total_variants
  FROM page
  JOIN message_rows m ON m.session_id = %(session_id)s AND m.id = page.id
 ORDER BY page.n;

-- name: active_sibling_index$
-- The variant_index of the owner's active visible child of one node of a session (parent_id null: its roots), if any.
SELECT m.variant_index
  FROM messages m
 WHERE m.session_id = %(session_id)s AND m.is_active AND m.recipient_client_id IS NULL AND NOT m.is_hidden_from_user
   AND (m.parent_id = %(parent_id)s OR (m.parent_id IS NULL AND %(parent_id)s::uuid IS NULL));

-- name: get_owned_message^
-- One message of a caller's session.
SELECT m.*
  FROM message_rows m
  JOIN sessions s ON s.id = m.session_id AND s.client_id = %(client_id)s
 WHERE m.id = %(message_id)s;

-- name: variant_counts*
-- How many variants a viewer sees under each given parent (NULL: the roots): the owner's, plus their own.
SELECT parent_id, count(*) AS total
  FROM messages
 WHERE session_id = %(session_id)s
   AND (parent_id = ANY(%(parent_ids)s::uuid[]) OR (parent_id IS NULL AND %(with_roots)s))
   AND (recipient_client_id IS NULL OR recipient_client_id = %(recipient)s::text)
 GROUP BY parent_id;

-- name: insert_user_turn^
-- Add a user message as the newest active variant under a parent, with an empty assistant reply below it, live: leased to this instance while it streams (place_turn). No row, and nothing written, when the parent already has %(max_siblings)s variants its audience sees (the owner's; for a share recipient, plus their own).
SELECT user_message_id AS id, created_at, deactivated
  FROM place_turn(%(session_id)s, %(parent_id)s, %(recipient_client_id)s, %(max_siblings)s, %(user_message_id)s,
                  %(assistant_message_id)s, %(content)s, %(file_ids)s::uuid[], %(user_metadata)s,
                  %(assistant_metadata)s, %(resumable)s, %(lease_seconds)s::double precision);

-- name: send_turn^
-- The common send's transaction 1 in one call (sql/functions/sends.sql): lock the caller's session, then, in fresh snapshots, check for a reply still streaming (when %(check_busy)s), read the active path and place the turn below its leaf. No row: no such session of the caller.
SELECT * FROM send_turn(%(session_id)s, %(client_id)s, %(check_busy)s, %(user_message_id)s, %(assistant_message_id)s,
                        %(content)s, %(file_ids)s::uuid[], %(resumable)s, %(lease_seconds)s::double precision);

-- name: insert_assistant_variant^
-- Add an empty assistant message as the newest active variant under a parent (a recreate), live: leased to this instance while it streams (place_turn). No row, and nothing written, when the parent already has %(max_siblings)s variants its audience sees.
SELECT assistant_message_id AS id, variant_index, deactivated
  FROM place_turn(%(session_id)s, %(parent_id)s, %(recipient_client_id)s, %(max_siblings)s, NULL,
                  %(assistant_message_id)s, NULL, NULL, NULL, %(assistant_metadata)s, %(resumable)s,
                  %(lease_seconds)s::double precision);

-- name: activate_path!
-- Make a message and its ancestors of the same audience the active variants of their sibling groups.
UPDATE messages m
   SET is_active = (m.id = chain.id), updated_at = clock_timestamp()
  FROM path_ascent(%(message_id)s, %(session_id)s) chain
 WHERE m.session_id = %(session_id)s
   AND (m.parent_id = chain.parent_id OR (m.parent_id IS NULL AND chain.parent_id IS NULL))
   AND m.recipient_client_id IS NOT DISTINCT FROM chain.recipient_client_id
   AND m.is_active IS DISTINCT FROM (m.id = chain.id)
RETURNING m.id;

-- name: finish_assistant_message!
-- Store a reply's final content and state, touching the session first (its lock precedes the message's).
WITH touched AS (
    UPDATE sessions SET updated_at = clock_timestamp()
     WHERE id = %(session_id)s
    RETURNING id
)
UPDATE messages m
   SET content = %(content)s, is_complete = %(is_complete)s,
       metadata = m.metadata || %(metadata)s, updated_at = clock_timestamp()
  FROM touched
 WHERE m.session_id = %(session_id)s AND m.id = %(message_id)s  -- `touched`: none when the session is gone
RETURNING m.id;

-- name: active_path_page*
-- Up to %(limit)s messages of the owner's active path, from the root or below %(after_id)s (a page cursor): the walk stops at the page's end, so a deep page costs its own length, not the whole path's.
SELECT m.*, p.depth
  FROM path_descent(%(session_id)s, NULL, %(after_id)s, %(limit)s) p
  JOIN message_rows m ON m.session_id = %(session_id)s AND m.id = p.id
 ORDER BY p.depth;

-- name: append_reply_chunks!
-- Store a live reply's chunk events, as rows of bounded size (app/chat/replies.chunk_rows: [{first_index, chunks}]); wake the listeners if someone watches it. The row is locked FOR SHARE whatever its mark: a watcher marking it meanwhile either commits first (the mark is seen) or waits for this batch (and reads it). A row at an index already stored is the retry of one whose commit went unseen, with the chunks since: the longer one is kept.
WITH stored AS (
    INSERT INTO reply_chunks AS c (session_id, message_id, first_index, chunks)
    SELECT %(session_id)s, %(message_id)s, (b ->> 'first_index')::integer, b -> 'chunks'
      FROM jsonb_array_elements(%(batches)s) b
    ON CONFLICT (session_id, message_id, first_index) DO UPDATE SET chunks = EXCLUDED.chunks
     WHERE jsonb_array_length(EXCLUDED.chunks) > jsonb_array_length(c.chunks)
    RETURNING message_id
), live AS (
    SELECT watched FROM live_replies WHERE session_id = %(session_id)s AND message_id = %(message_id)s FOR SHARE
)
SELECT notify_reply(%(message_id)s, 'chunks') FROM live WHERE live.watched AND EXISTS (SELECT FROM stored);

-- name: windowed_history^
-- The history of a turn below `leaf` for a session type with history_window_messages (sql/functions/history.sql), with the window applied.
SELECT history, history_window FROM windowed_history(%(session_id)s, %(leaf)s, %(window)s, %(summary)s);

-- name: variant_place^
-- A message's variant index and how many variants its owner sees at its place (a recreate's `complete` line: "2 of 3").
SELECT m.variant_index,
       (SELECT count(*) FROM messages s
         WHERE s.session_id = m.session_id AND s.recipient_client_id IS NULL
           AND (s.parent_id = m.parent_id OR (s.parent_id IS NULL AND m.parent_id IS NULL))) AS total_variants
  FROM messages m
 WHERE m.session_id = %(session_id)s AND m.id = %(message_id)s;

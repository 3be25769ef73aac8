-- The change feed (app/chat/feed.py; sql/migrations/022, sql/functions/feed.sql).

-- name: cursor_still_valid$
-- Whether reading on after (tx, id) misses nothing: the client has followed its feed since (its row was not pruned for lapsing), and no event after that place was pruned.
SELECT EXISTS (SELECT 1 FROM client_feeds
                WHERE client_id = %(client_id)s
                  AND (pruned_tx IS NULL OR (%(tx)s::xid8, %(id)s::bigint) >= (pruned_tx, pruned_id)));

-- name: follow_feed!
-- The client follows a feed (from now on its changes are recorded), or still does.
INSERT INTO client_feeds (client_id) VALUES (%(client_id)s)
ON CONFLICT (client_id) DO UPDATE SET seen_at = now();

-- name: feed_horizon^
-- Where a feed without a cursor starts: after everything of the transactions finished now (rows of those still running, and later ones, come).
SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS tx, extract(epoch FROM now())::bigint AS at;

-- name: feed_events*
-- A client's events after (tx, id), those of transactions older than every one still running (so no later commit can land behind them), in order, at most `limit`.
SELECT id, tx::text AS tx, kind, session_id, message_id, data, extract(epoch FROM created_at)::bigint AS at,
       created_at
  FROM client_events
 WHERE client_id = %(client_id)s
   AND (tx, id) > (%(tx)s::xid8, %(id)s::bigint)
   AND tx < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx, id
 LIMIT %(limit)s;

-- name: feed_pending$
-- Whether the client has events written by transactions that are not safe to hand out yet (an older one still runs).
SELECT EXISTS (SELECT 1 FROM client_events
                WHERE client_id = %(client_id)s AND (tx, id) > (%(tx)s::xid8, %(id)s::bigint)
                  AND tx >= pg_snapshot_xmin(pg_current_snapshot()));

-- name: prune_client_events!
-- Events past the feed's retention (each client's newest pruned place kept: a cursor below it is too old), and clients that stopped following a feed as long ago, in bounded batches.
WITH old_events AS (
    DELETE FROM client_events
     WHERE (client_id, tx, id) IN (SELECT client_id, tx, id FROM client_events
                                    WHERE created_at < now() - make_interval(secs => %(retention_seconds)s)
                                    LIMIT %(limit)s)
    RETURNING client_id, tx, id
), horizon AS (
    SELECT DISTINCT ON (client_id) client_id, tx, id FROM old_events ORDER BY client_id, tx DESC, id DESC
), moved AS (
    UPDATE client_feeds f SET pruned_tx = h.tx, pruned_id = h.id
      FROM horizon h
     WHERE f.client_id = h.client_id AND (f.pruned_tx IS NULL OR (h.tx, h.id) > (f.pruned_tx, f.pruned_id))
    RETURNING 1
)
DELETE FROM client_feeds
 WHERE client_id IN (SELECT client_id FROM client_feeds
                      WHERE seen_at < now() - make_interval(secs => %(retention_seconds)s)
                      LIMIT %(limit)s);

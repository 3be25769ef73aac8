-- name: set_reaction^
-- Upsert a user's reaction to a message, with its feedback; returns the reaction it replaced (NULL if none) and whether its feedback changed.
WITH previous AS (
    SELECT reaction_type, comment, reasons FROM reactions
     WHERE session_id = %(session_id)s AND message_id = %(message_id)s AND user_id = %(user_id)s
), upserted AS (
    INSERT INTO reactions (session_id, message_id, user_id, reaction_type, comment, reasons)
    VALUES (%(session_id)s, %(message_id)s, %(user_id)s, %(reaction_type)s, %(comment)s, %(reasons)s)
    ON CONFLICT (session_id, message_id, user_id)
    DO UPDATE SET reaction_type = EXCLUDED.reaction_type, comment = EXCLUDED.comment, reasons = EXCLUDED.reasons,
                  updated_at = now()
    RETURNING reaction_type
)
SELECT (SELECT reaction_type FROM previous) AS previous, (SELECT reaction_type FROM upserted) AS current,
       NOT EXISTS (SELECT 1 FROM previous
                    WHERE comment IS NOT DISTINCT FROM %(comment)s AND reasons = %(reasons)s::text[]) AS feedback_changed;

-- name: delete_reaction^
-- Remove a user's reaction to a message; returns the reaction removed, if any.
DELETE FROM reactions WHERE session_id = %(session_id)s AND message_id = %(message_id)s AND user_id = %(user_id)s
RETURNING reaction_type AS previous;

-- name: reaction_summaries*
-- Like/dislike counts and the caller's own reaction for a set of messages of one session (the API's lists and single messages): their session is read from the first of them, by id (the callers have no session at hand), and the reactions in that session only.
SELECT message_id,
       count(*) FILTER (WHERE reaction_type = 'like') AS likes,
       count(*) FILTER (WHERE reaction_type = 'dislike') AS dislikes,
       max(reaction_type) FILTER (WHERE user_id = %(user_id)s) AS mine
  FROM reactions
 WHERE session_id = (SELECT m.session_id FROM messages m WHERE m.id = (%(message_ids)s::uuid[])[1])
   AND message_id = ANY(%(message_ids)s)
 GROUP BY message_id;

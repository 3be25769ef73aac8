-- name: lock_owned_session_for_fork^
-- A caller's session, its row share-locked: every tree write takes this row's lock first, so its path holds still while a fork copies it.
SELECT * FROM sessions WHERE id = %(id)s AND client_id = %(client_id)s FOR SHARE;

-- name: lock_shared_session_for_fork^
-- The session a live share token opens, its row share-locked (see lock_owned_session_for_fork).
SELECT s.*
  FROM share_tokens st
  JOIN sessions s ON s.id = st.session_id
 WHERE st.token_hash = %(token_hash)s AND st.revoked_at IS NULL
   AND (st.expires_at IS NULL OR st.expires_at > now())
   FOR SHARE OF s;

-- name: fork_source^
-- What a fork would copy: the path from the root of %(source_id)s down to %(message_id)s. `messages` 0: no such message in the session; `visible`: every message on it is the owner's or, for a share recipient (%(recipient)s), theirs; `streaming`: a reply on it is still live.
SELECT count(*) AS messages,
       coalesce(bool_and(up.recipient_client_id IS NULL
                         OR coalesce(up.recipient_client_id = %(recipient)s::text, false)), true) AS visible,
       coalesce(bool_or(EXISTS (SELECT 1 FROM live_replies l
                                 WHERE l.session_id = %(source_id)s AND l.message_id = up.id)), false) AS streaming
  FROM path_ascent(%(message_id)s, %(source_id)s) up;

-- name: copy_into_fork*
-- Copy the path from the root of %(source_id)s down to %(message_id)s into session %(fork_id)s: each message a new id, the one active variant of its place, with its content, files, flags, metadata and time. For a share recipient (%(recipient)s not NULL) what the share view never shows them stays behind: the owner's messages hidden from users (each kept message then hangs below the previous kept one) and the metadata of the owner's messages, but for a stop reason. Returns the new ids, root first.
WITH kept AS (
    SELECT m.id, m.role, m.content, m.file_ids, m.is_complete, m.is_hidden_from_user, m.is_hidden_from_llm,
           CASE WHEN %(recipient)s::text IS NULL OR m.recipient_client_id = %(recipient)s::text THEN m.metadata
                ELSE jsonb_strip_nulls(jsonb_build_object('stop_reason', m.metadata -> 'stop_reason')) END
               AS metadata,
           m.created_at, row_number() OVER (ORDER BY up.height DESC) AS position
      FROM path_ascent(%(message_id)s, %(source_id)s) up
      JOIN messages m ON m.session_id = %(source_id)s AND m.id = up.id
     WHERE %(recipient)s::text IS NULL OR NOT m.is_hidden_from_user
), fresh AS MATERIALIZED (
    SELECT kept.*, gen_random_uuid() AS new_id FROM kept
)
INSERT INTO messages (id, session_id, parent_id, role, content, file_ids, variant_index, is_active, is_complete,
                      is_hidden_from_user, is_hidden_from_llm, metadata, created_at)
SELECT f.new_id, %(fork_id)s, parent.new_id, f.role, f.content, f.file_ids, 0, true, f.is_complete,
       f.is_hidden_from_user, f.is_hidden_from_llm, f.metadata, f.created_at
  FROM fresh f
  LEFT JOIN fresh parent ON parent.position = f.position - 1
 ORDER BY f.position
RETURNING id;

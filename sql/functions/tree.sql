-- The message tree's functions: its trigger, the walks down and up a path, a message's place (for search
-- hits), whether a session accepts files.

-- Deleting a message leaves a gap in its siblings' variant indexes. Only the delete transaction may
-- close it: it sets `chat_engine.compacting_variants` locally, and the trigger then lets
-- variant_index change (nothing else about a message's place ever does). The unique constraint
-- and sql/checks/invariants.sql still hold the indexes to 0..n-1.
CREATE OR REPLACE FUNCTION messages_keep_tree_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS DISTINCT FROM OLD.parent_id
       OR NEW.session_id <> OLD.session_id
       OR NEW.role <> OLD.role
       OR (NEW.variant_index <> OLD.variant_index
           AND coalesce(current_setting('chat_engine.compacting_variants', true), '') <> 'on') THEN
        RAISE EXCEPTION 'a message''s place in the tree is immutable' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

-- Whether a session accepts file ids: its type's setting, or else what its backend declared (the
-- `file_attachments` capability). The rule itself, for a caller that has the type's row at hand (a plain
-- expression the planner inlines), and the lookup by type id for one that has not.
CREATE OR REPLACE FUNCTION files_accepted(type_setting boolean, capabilities jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(type_setting, capabilities @> '[{"id": "file_attachments"}]')
$$;

CREATE OR REPLACE FUNCTION session_accepts_files(session_type_id text, capabilities jsonb) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT files_accepted((SELECT t.accepts_files FROM session_types t WHERE t.id = $1), $2)
$$;

-- A message's place in the tree, for search hits: the variant indexes from the root down to it, and
-- whether every message on that chain is its group's active variant (then it is on the active path).
CREATE OR REPLACE FUNCTION message_place(message_id uuid, session_id uuid, OUT variant_path integer[],
                                         OUT on_active_path boolean)
LANGUAGE sql STABLE AS $$
    SELECT array_agg(up.variant_index ORDER BY up.height DESC), bool_and(up.is_active)
      FROM path_ascent(message_id, session_id) up
$$;

-- The one walk down a session's tree: from its roots (or from below `p_below`) along the active path,
-- at each node its active child, a share recipient's own (`p_recipient`) before the owner's; at most
-- `p_limit` messages (NULL: down to the leaf). A recipient's branch starts below the owner's messages,
-- never among the roots. Each level is one probe of messages_one_active_sibling's index (session, parent,
-- audience) WHERE is_active per audience, written in the index's own terms so that generic plans use it
-- too; the recipient's probe comes first and, for the owner's walk (`p_recipient` NULL), compares with
-- NULL, which the index answers without looking. Two LIMIT 1 probes cost less than one probe of both
-- audiences sorted by audience (measured: 3.4 against 4.3 ms for 1,000 levels). The recipient's child wins
-- because a (non-parallel) Append returns its branches in order and LIMIT 1 stops at the first row.
-- A plain SQL function: the planner inlines it into each query that reads it.
CREATE OR REPLACE FUNCTION path_descent(p_session_id uuid, p_recipient text DEFAULT NULL,
                                        p_below uuid DEFAULT NULL, p_limit integer DEFAULT NULL)
RETURNS TABLE (id uuid, parent_id uuid, role text, is_active boolean, is_hidden_from_user boolean,
               recipient_client_id text, history_item text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE walk AS (
        SELECT first.*, 0 AS depth
          FROM ((SELECT * FROM active_child(p_session_id, p_below,
                                            CASE WHEN p_below IS NOT NULL THEN p_recipient END))
                UNION ALL
                (SELECT * FROM active_child(p_session_id, p_below, ''))
                LIMIT 1) first
        UNION ALL
        SELECT child.*, walk.depth + 1
          FROM walk
         CROSS JOIN LATERAL ((SELECT * FROM active_child(p_session_id, walk.id, p_recipient))
                             UNION ALL
                             (SELECT * FROM active_child(p_session_id, walk.id, ''))
                             LIMIT 1) child
         WHERE p_limit IS NULL OR walk.depth + 1 < p_limit
    )
    SELECT * FROM walk
$$;

-- The owner's active path from the roots, for a send: path_descent's walk for one audience, carrying only
-- what a send reads. path_descent serves share recipients too, so each of its levels is an Append of two
-- probes, one of them a no-op for the owner, and it carries every column its readers need: at 1,000
-- messages this form costs 6% less PostgreSQL CPU per exchange (loadtests/statement_cost.py). Same
-- probe, same index (messages_one_active_sibling); inlined into the calling statement.
CREATE OR REPLACE FUNCTION owner_path(p_session_id uuid)
RETURNS TABLE (id uuid, history_item text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE walk AS (
        SELECT root.id, root.history_item, 0 AS depth
          FROM active_child(p_session_id, NULL, '') root
        UNION ALL
        SELECT child.id, child.history_item, walk.depth + 1
          FROM walk
         CROSS JOIN LATERAL active_child(p_session_id, walk.id, '') child
    )
    SELECT * FROM walk
$$;

-- One level of path_descent: the active child of `p_parent` (NULL: among the roots) in one audience
-- (`p_audience`: '' the owner's, else a share recipient's client id; NULL matches nothing, at no cost).
CREATE OR REPLACE FUNCTION active_child(p_session_id uuid, p_parent uuid, p_audience text)
RETURNS TABLE (id uuid, parent_id uuid, role text, is_active boolean, is_hidden_from_user boolean,
               recipient_client_id text, history_item text)
LANGUAGE sql STABLE AS $$
    SELECT m.id, m.parent_id, m.role, m.is_active, m.is_hidden_from_user, m.recipient_client_id, m.history_item
      FROM messages m
     WHERE m.session_id = p_session_id AND m.is_active
       AND coalesce(m.parent_id, '00000000-0000-0000-0000-000000000000'::uuid)
           = coalesce(p_parent, '00000000-0000-0000-0000-000000000000'::uuid)
       AND coalesce(m.recipient_client_id, '') = p_audience
     LIMIT 1
$$;

-- The one walk up: from a message (of `p_session_id`, when given) to its root, one primary-key lookup per
-- level, in the message's session (so in one partition: docs/partitioning.md); `height` 0 is the message itself.
-- Each level's lookup is a LATERAL (… LIMIT 1), so it stays a lookup: on partitioned tables a generic plan
-- otherwise joined each level to a scan of every partition (2 s for 3,000 levels, against 7 ms).
CREATE OR REPLACE FUNCTION path_ascent(p_message_id uuid, p_session_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, parent_id uuid, role text, is_active boolean, is_hidden_from_user boolean,
               recipient_client_id text, history_item text, variant_index integer, height integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT m.session_id, m.id, m.parent_id, m.role, m.is_active, m.is_hidden_from_user, m.recipient_client_id,
               m.history_item, m.variant_index, 0 AS height
          FROM messages m
         WHERE m.id = p_message_id AND (p_session_id IS NULL OR m.session_id = p_session_id)
        UNION ALL
        SELECT parent.*, up.height + 1
          FROM up
         CROSS JOIN LATERAL (
               SELECT m.session_id, m.id, m.parent_id, m.role, m.is_active, m.is_hidden_from_user,
                      m.recipient_client_id, m.history_item, m.variant_index
                 FROM messages m WHERE m.session_id = up.session_id AND m.id = up.parent_id
                LIMIT 1
         ) parent
    )
    SELECT up.id, up.parent_id, up.role, up.is_active, up.is_hidden_from_user, up.recipient_client_id,
           up.history_item, up.variant_index, up.height
      FROM up
$$;

-- A message as reads for the API select it: every column but those only the engine reads (the search
-- vector, the rendered history item), which can be as large as the content. A plain view: the planner
-- reads through it.
CREATE OR REPLACE VIEW message_rows AS
    SELECT id, session_id, parent_id, role, content, file_ids, variant_index, is_active, is_complete,
           is_hidden_from_user, is_hidden_from_llm, recipient_client_id, metadata, created_at, updated_at
      FROM messages;

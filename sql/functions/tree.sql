-- The message tree's functions: its trigger, a message's place (for search hits), whether a session accepts files.

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

CREATE OR REPLACE FUNCTION session_accepts_files(session_type_id text, capabilities jsonb) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT t.accepts_files FROM session_types t WHERE t.id = $1),
                    $2 @> '[{"id": "file_attachments"}]')
$$;

-- A message's place in the tree, for search hits: the variant indexes from the root down to it, and
-- whether every message on that chain is its group's active variant (then it is on the active path).
CREATE OR REPLACE FUNCTION message_place(message_id uuid, OUT variant_path integer[], OUT on_active_path boolean)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT m.parent_id, m.variant_index, m.is_active, 0 AS height FROM messages m WHERE m.id = message_id
        UNION ALL
        SELECT parent.parent_id, parent.variant_index, parent.is_active, up.height + 1
          FROM up
         CROSS JOIN LATERAL (SELECT m.parent_id, m.variant_index, m.is_active FROM messages m
                              WHERE m.id = up.parent_id) parent
    )
    SELECT array_agg(up.variant_index ORDER BY up.height DESC), bool_and(up.is_active) FROM up
$$;

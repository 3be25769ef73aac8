-- What chat apps need (issue 11): deleting messages, files by declaration, code in search.

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

-- Whether a session type's sessions accept file_ids: true or false decides for every session;
-- NULL (the default) follows the backend, which declares files with the capability id
-- "file_attachments" in its session.created answer.
ALTER TABLE session_types ADD COLUMN accepts_files boolean;

CREATE FUNCTION session_accepts_files(session_type_id text, capabilities jsonb) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT t.accepts_files FROM session_types t WHERE t.id = $1),
                    $2 @> '[{"id": "file_attachments"}]')
$$;

-- Code parts are searchable like text. PostgreSQL 15 cannot change a generated column's
-- expression, so the column and its index are rebuilt.
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search_vector;
ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig, jsonb_path_query_array(content, '$[*].text')::text || ' '
                                      || jsonb_path_query_array(content, '$[*].code')::text)
) STORED;
CREATE INDEX messages_search ON messages USING gin (search_vector);

-- A message's place in the tree, for search hits: the variant indexes from the root down to it, and
-- whether every message on that chain is its group's active variant (then it is on the active path).
CREATE FUNCTION message_place(message_id uuid, OUT variant_path integer[], OUT on_active_path boolean)
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

-- A stored message as the webhook protocol's history item.

-- A stored message as a webhook history item (the contract's Message schema), as JSON text built
-- where the row is: the send path reads the few columns it decides on plus this, and splices it into
-- the request body as is, instead of reading whole rows (with their search vectors), parsing their
-- JSON and building the items again in Python on every send. NULL for what a backend never
-- sees: a message hidden from it, or an empty placeholder. The id prefixes are parameters: app/ids.py
-- stays the one source of the GTS ids.
CREATE OR REPLACE FUNCTION webhook_history_item(m messages, message_prefix text, session_prefix text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN m.is_hidden_from_llm OR m.content = '[]'::jsonb THEN NULL ELSE
        json_build_object(
            'message_id', message_prefix || m.id::text,
            'session_id', session_prefix || m.session_id::text,
            'role', m.role,
            'content', m.content,
            'parent_message_id', message_prefix || m.parent_id::text,
            'metadata', m.metadata,
            'file_ids', to_json(m.file_ids),
            'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
    END
$$;

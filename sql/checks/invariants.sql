-- name: tree_violations^
-- Counts of broken message-tree invariants over the whole database; all zero when healthy.
SELECT
    (SELECT count(*) FROM messages m
      WHERE m.parent_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.session_id = m.session_id AND p.id = m.parent_id)) AS orphans,
    (SELECT count(*) FROM messages m JOIN messages p ON p.id = m.parent_id
      WHERE p.session_id <> m.session_id) AS cross_session_parents,
    (SELECT count(*) FROM (
        SELECT 1 FROM messages
         GROUP BY session_id, parent_id, recipient_client_id
        HAVING count(*) FILTER (WHERE is_active) <> 1) g) AS groups_without_one_active,
    (SELECT count(*) FROM (
        SELECT 1 FROM messages
         GROUP BY session_id, parent_id
        HAVING count(DISTINCT variant_index) <> count(*) OR max(variant_index) + 1 <> count(*)) g)
        AS groups_with_bad_indexes,
    (SELECT count(*) FROM messages m
      WHERE m.history_item IS DISTINCT FROM webhook_history_item(m)) AS stale_history_items;

-- name: count_existing_sessions$
-- How many of the given session ids exist.
SELECT count(*) AS n FROM sessions WHERE id = ANY(%(ids)s::uuid[]);

-- name: count_complete_messages$
-- How many of the given message ids exist and are complete.
SELECT count(*) AS n FROM messages WHERE id = ANY(%(ids)s::uuid[]) AND is_complete;

-- name: database_totals^
-- Row counts for a run's report.
SELECT (SELECT count(*) FROM sessions) AS sessions,
       (SELECT count(*) FROM messages) AS messages,
       (SELECT count(*) FROM messages WHERE NOT is_complete) AS incomplete;

-- name: reply_violations^
-- Live replies and stop reasons that disagree; all zero at any moment (a reply's end is one transaction).
SELECT
    (SELECT count(*) FROM live_replies l JOIN messages m ON m.session_id = l.session_id AND m.id = l.message_id
      WHERE m.is_complete OR m.metadata ? 'stop_reason') AS live_but_ended,
    (SELECT count(*) FROM messages m
      WHERE m.is_complete AND m.metadata ? 'stop_reason') AS complete_with_stop_reason,
    (SELECT count(*) FROM live_replies l JOIN messages m ON m.id = l.message_id
      WHERE m.role <> 'assistant' OR m.session_id <> l.session_id) AS live_rows_misplaced;

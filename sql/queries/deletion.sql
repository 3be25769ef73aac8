-- name: allow_variant_compaction!
-- Let this transaction renumber variant indexes (the tree-position trigger checks it, migration 003).
SELECT set_config('chat_engine.compacting_variants', 'on', true);

-- name: delete_subtree*
-- Delete a message and every message below it (any audience); returns the ids removed.
WITH RECURSIVE subtree AS (
    SELECT m.id FROM messages m WHERE m.id = %(message_id)s AND m.session_id = %(session_id)s
    UNION ALL
    SELECT child.id
      FROM subtree
      JOIN messages child ON child.session_id = %(session_id)s AND child.parent_id = subtree.id
)
DELETE FROM messages m
 USING subtree
 WHERE m.session_id = %(session_id)s AND m.id = subtree.id
RETURNING m.id;

-- name: lift_variants_after!
-- First half of closing a gap: move the siblings after the deleted index out of the way.
UPDATE messages SET variant_index = variant_index + 1000000
 WHERE session_id = %(session_id)s AND variant_index > %(variant_index)s
   AND (parent_id = %(parent_id)s OR (parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
RETURNING id;

-- name: settle_lifted_variants!
-- Second half: bring the lifted siblings down by one past where they were (no duplicate midway).
UPDATE messages SET variant_index = variant_index - 1000001
 WHERE session_id = %(session_id)s AND variant_index >= 1000000
   AND (parent_id = %(parent_id)s OR (parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
RETURNING id;

-- name: activate_nearest_sibling^
-- After a deletion at a (compacted) index: make the owner sibling nearest to it active, the one before first.
UPDATE messages SET is_active = true, updated_at = clock_timestamp()
 WHERE session_id = %(session_id)s AND id = (
       SELECT m.id FROM messages m
        WHERE m.session_id = %(session_id)s AND m.recipient_client_id IS NULL
          AND (m.parent_id = %(parent_id)s OR (m.parent_id IS NULL AND %(parent_id)s::uuid IS NULL))
        ORDER BY abs(2 * m.variant_index - 2 * %(variant_index)s + 1), m.variant_index
        LIMIT 1)
RETURNING id;

-- name: withdraw_exports!
-- Stored exports of a session are snapshots; after a deletion they would still hold what was deleted.
DELETE FROM exports WHERE session_id = %(session_id)s RETURNING id;

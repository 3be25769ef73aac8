-- Every statement that looks up a message's children names its session too, so messages_variant_unique
-- (session_id, parent_id, variant_index) serves them all, and the foreign key's cascade; the index on
-- (parent_id, variant_index) only cost two more index entries per exchange (a benchmark window used it
-- only where the other would have done: loadtests/reports/2026-12-04). Replicas of the previous release
-- still serving while an upgrade rolls out find a deleted message's subtree without it, more slowly.
DROP INDEX IF EXISTS messages_children;

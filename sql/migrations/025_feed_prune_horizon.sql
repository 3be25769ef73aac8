-- The change feed's validity of a cursor (app/chat/feed.py): events are pruned by age, read by (tx, id). The
-- newest (tx, id) pruned of each client is kept, and a cursor below it is 410: it may have missed events.
ALTER TABLE client_feeds ADD COLUMN pruned_tx xid8, ADD COLUMN pruned_id bigint;

-- The sweep's own statements (app/streams/leases.py); what it prunes is with each table's queries.

-- name: try_prune_lock$
-- Whether this transaction may prune now: a transaction-level advisory lock (released at its end, and usable through a transaction pooler) that one worker holds while the others skip that round.
SELECT pg_try_advisory_xact_lock(4242011);

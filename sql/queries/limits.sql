-- name: set_statement_timeout!
-- Bound the rest of this transaction's statements (search, export): a heavy one is cancelled (SQLSTATE 57014, a 503 with Retry-After) instead of holding a worker and a connection.
SELECT set_config('statement_timeout', %(timeout_ms)s::text, true);

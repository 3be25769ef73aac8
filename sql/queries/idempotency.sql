-- name: get_idempotency_key^
-- A caller's unexpired Idempotency-Key and what it stands for.
SELECT * FROM idempotency_keys
 WHERE client_id = %(client_id)s AND key = %(key)s AND expires_at > now();

-- name: insert_idempotency_key!
-- Record a key with the work it stands for, in that work's transaction; an expired holder of the key is replaced. A live one makes this fail (unique violation), and the caller re-checks.
WITH expired AS (
    DELETE FROM idempotency_keys
     WHERE client_id = %(client_id)s AND key = %(key)s AND expires_at <= now()
)
INSERT INTO idempotency_keys (client_id, key, operation, body_hash, session_id, message_id, user_message_id,
                              response, expires_at)
VALUES (%(client_id)s, %(key)s, %(operation)s, %(body_hash)s, %(session_id)s, %(message_id)s,
        %(user_message_id)s, %(response)s, now() + make_interval(secs => %(ttl_seconds)s));

-- name: delete_expired_idempotency_keys$
-- Forget keys past their retention (run by the sweep); returns how many.
WITH gone AS (
    DELETE FROM idempotency_keys
     WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT %(limit)s)
    RETURNING 1
)
SELECT count(*) FROM gone;

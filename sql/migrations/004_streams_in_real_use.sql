-- Streams that survive real use (issue 12) and fair breakers (issue 10 §4).

-- timeout_seconds bounds the wait for the first byte and the silence between bytes; this caps the total.
ALTER TABLE session_types
    ADD COLUMN max_reply_seconds integer NOT NULL DEFAULT 1800 CHECK (max_reply_seconds BETWEEN 1 AND 3600),
    -- NULL: the instance's default (BREAKER_FAIL_MAX, BREAKER_RESET_SECONDS, BREAKER_HALF_OPEN_MAX_CALLS).
    ADD COLUMN breaker_failure_threshold integer CHECK (breaker_failure_threshold BETWEEN 1 AND 1000),
    ADD COLUMN breaker_open_seconds integer CHECK (breaker_open_seconds BETWEEN 1 AND 3600),
    ADD COLUMN breaker_half_open_probes integer CHECK (breaker_half_open_probes BETWEEN 1 AND 100);

-- A reply still streaming somewhere. The row is the streaming instance's lease: renewed while it
-- streams, deleted by whoever finishes the reply (the streaming instance, a superseding send, or the
-- sweep that marks a lapsed reply interrupted). Deleting the row is the claim: exactly one party
-- stores the reply's final state.
CREATE TABLE live_replies (
    message_id          uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    session_id          uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    resumable           boolean NOT NULL DEFAULT false,
    lease_expires_at    timestamptz NOT NULL,
    -- A stop asked for from anywhere ('cancelled' by POST /stop, 'superseded' by if_busy=interrupt).
    stop_requested      text CHECK (stop_requested IN ('cancelled', 'superseded')),
    started_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_replies_by_session ON live_replies (session_id);
CREATE INDEX live_replies_by_lease ON live_replies (lease_expires_at);

-- The chunk events of a reply as the client saw them, in batches: a rejoin at offset N continues
-- exactly after the N-th chunk, from any instance.
CREATE TABLE reply_chunks (
    message_id          uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    first_index         integer NOT NULL CHECK (first_index >= 0),
    chunks              jsonb NOT NULL CHECK (jsonb_typeof(chunks) = 'array'),
    PRIMARY KEY (message_id, first_index)
);

-- Idempotency-Key: per caller, kept at least 24 h. The row is written in the same transaction as the
-- work it stands for, so a key and its effect commit together or not at all.
CREATE TABLE idempotency_keys (
    client_id           text NOT NULL,
    key                 text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    operation           text NOT NULL,
    body_hash           bytea NOT NULL,
    session_id          uuid,
    message_id          uuid,
    user_message_id     uuid,
    status_code         integer,
    response            jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

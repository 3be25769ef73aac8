-- Backend notices (session.deleted, message.aborted, message.reaction) as an outbox (issue 24 §5): each is
-- written in the transaction of the change it tells of, and delivered afterwards by any instance, retried
-- with backoff until NOTICE_RETRY_HOURS, then kept as a dead letter (docs/operations.md).
--
-- `body` is the exact JSON sent, as text: every attempt sends the same bytes (jsonb would reorder keys, and
-- refuses what a text of escaped JSON holds without harm). No foreign key to session_types: a type
-- deleted since is found missing at delivery, and its notices become dead letters.
CREATE TABLE webhook_notices (
    event_id         uuid PRIMARY KEY,
    session_type_id  text NOT NULL,
    url              text,  -- NULL: the session type's webhook_url at delivery; else another of its services (the summarizer)
    event            text NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    due_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    dead_at          timestamptz
);

-- What the deliverers claim: pending notices, oldest due first.
CREATE INDEX webhook_notices_due ON webhook_notices (due_at) WHERE dead_at IS NULL;

-- A reply's live row is written twice per exchange (inserted by the send, deleted at its end) and updated at
-- every lease renewal; each index on it is paid on every one of those writes.
--
-- live_replies_by_lease served no query: the sweep's one lookup (lapsed_replies) also asks whether a
-- reply's owner is gone, an OR no index on the lease answers, so it reads the table (it holds only the
-- replies streaming at that moment). Without the index a lease renewal is a HOT update.
DROP INDEX IF EXISTS live_replies_by_lease;

-- One foreign key instead of two: the message of the row's own session. An insert makes one check, not
-- two, and a live row can no longer name a message of another session (the invariant check's
-- live_rows_misplaced, now enforced where it is written). A session's deletion still removes its live
-- rows: through its messages. The table holds only the replies streaming now: validating takes no time.
ALTER TABLE live_replies
    DROP CONSTRAINT IF EXISTS live_replies_message_id_fkey,
    DROP CONSTRAINT IF EXISTS live_replies_session_id_fkey,
    ADD CONSTRAINT live_replies_message_of_session FOREIGN KEY (session_id, message_id)
        REFERENCES messages (session_id, id) ON DELETE CASCADE;

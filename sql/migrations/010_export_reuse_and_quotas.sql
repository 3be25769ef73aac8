-- Exports stop copying everything every time (issue 26 §4): three exports of an 84 MB session stored
-- 241 MB. An export now records what it was built from (source_version: the session's and its tree's
-- last change, see export_source_version), so an unchanged session's export is handed out again instead
-- of being rendered and stored once more; the client it belongs to and its size, for the per-client caps
-- (EXPORT_MAX_PER_CLIENT, EXPORT_MAX_BYTES_PER_CLIENT). Expired exports are purged by the workers' sweep.

ALTER TABLE exports
    ADD COLUMN client_id text,
    ADD COLUMN size_bytes bigint,
    ADD COLUMN source_version text;

-- octet_length of a bytea reads the stored length; it does not fetch the body.
UPDATE exports e SET client_id = s.client_id, size_bytes = octet_length(e.body)
  FROM sessions s WHERE s.id = e.session_id;

ALTER TABLE exports
    ALTER COLUMN client_id SET NOT NULL,
    ALTER COLUMN size_bytes SET NOT NULL,
    ADD CONSTRAINT exports_size_not_negative CHECK (size_bytes >= 0);

-- A client's live exports (the caps); a session's exports (reuse, withdrawal, the cascade on delete).
CREATE INDEX exports_by_client ON exports (client_id, expires_at);
CREATE INDEX exports_by_session ON exports (session_id, format, scope);

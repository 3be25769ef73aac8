-- The whole data model of SPEC §7–§8. Every invariant that can live in the database lives here;
-- the code relies on these constraints as the last line of defence.

CREATE TABLE session_types (
    id                      text PRIMARY KEY
        CHECK (id ~ '^gts\.hyperspot\.chat_engine\.session_types\.[a-z0-9_]+\.v[0-9]+(\.[0-9]+)*~$'),
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description             text NOT NULL DEFAULT '',
    webhook_url             text NOT NULL CHECK (webhook_url ~ '^https?://'),
    timeout_seconds         integer NOT NULL DEFAULT 30 CHECK (timeout_seconds BETWEEN 1 AND 300),
    summarization_enabled   boolean NOT NULL DEFAULT false,
    summarization_url       text CHECK (summarization_url ~ '^https?://'),
    summarization_settings  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(summarization_settings) = 'object'),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id                      uuid PRIMARY KEY,
    client_id               text NOT NULL CHECK (length(client_id) > 0),
    session_type_id         text NOT NULL REFERENCES session_types (id) ON UPDATE CASCADE,
    available_capabilities  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(available_capabilities) = 'array'),
    metadata                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sessions_by_client ON sessions (client_id, created_at DESC, id DESC);
CREATE INDEX sessions_metadata ON sessions USING gin (metadata jsonb_path_ops);

CREATE TABLE messages (
    id                      uuid PRIMARY KEY,
    session_id              uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- Immutable (trigger below); NULL for a root. The composite foreign key makes a parent in
    -- another session impossible, and ON DELETE CASCADE makes orphans impossible.
    parent_id               uuid,
    role                    text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content                 jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(content) = 'array'),
    file_ids                uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(file_ids) <= 10),
    variant_index           integer NOT NULL CHECK (variant_index >= 0),
    is_active               boolean NOT NULL,
    is_complete             boolean NOT NULL DEFAULT true,
    is_hidden_from_user     boolean NOT NULL DEFAULT false,
    is_hidden_from_llm      boolean NOT NULL DEFAULT false,
    -- A share recipient's private branch carries that recipient's client id; NULL is the owner's tree.
    recipient_client_id     text,
    metadata                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    search_vector           tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, jsonb_path_query_array(content, '$[*].text')::text)
    ) STORED,
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT messages_session_id_key UNIQUE (session_id, id),
    CONSTRAINT messages_parent_same_session FOREIGN KEY (session_id, parent_id)
        REFERENCES messages (session_id, id) ON DELETE CASCADE,
    CONSTRAINT messages_variant_unique UNIQUE NULLS NOT DISTINCT (session_id, parent_id, variant_index),
    -- At most one active sibling per (session, parent, audience): the owner's tree and each share
    -- recipient's branch keep their own active path. Deferred, so that a transaction may switch the
    -- active sibling in any statement order; it is checked at commit.
    CONSTRAINT messages_one_active_sibling EXCLUDE USING btree (
        session_id WITH =,
        coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid) WITH =,
        coalesce(recipient_client_id, '') WITH =
    ) WHERE (is_active) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX messages_children ON messages (parent_id, variant_index);
-- The table grows fast and the tree walks depend on fresh statistics: analyze after 2 % changes.
ALTER TABLE messages SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.05);
CREATE INDEX messages_search ON messages USING gin (search_vector);

CREATE FUNCTION messages_keep_tree_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS DISTINCT FROM OLD.parent_id
       OR NEW.session_id <> OLD.session_id
       OR NEW.variant_index <> OLD.variant_index
       OR NEW.role <> OLD.role THEN
        RAISE EXCEPTION 'a message''s place in the tree is immutable' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER messages_tree_position_immutable
    BEFORE UPDATE OF parent_id, session_id, variant_index, role ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_keep_tree_position();

CREATE TABLE share_tokens (
    id                      uuid PRIMARY KEY,
    session_id              uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash              bytea NOT NULL UNIQUE,
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz,
    revoked_at              timestamptz
);
CREATE INDEX share_tokens_by_session ON share_tokens (session_id, created_at);

CREATE TABLE reactions (
    message_id              uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id                 text NOT NULL,
    reaction_type           text NOT NULL CHECK (reaction_type IN ('like', 'dislike')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);

CREATE TABLE exports (
    id                      uuid PRIMARY KEY,
    session_id              uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    format                  text NOT NULL CHECK (format IN ('json', 'markdown', 'txt')),
    scope                   text NOT NULL CHECK (scope IN ('active', 'all')),
    content_type            text NOT NULL,
    body                    bytea NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz NOT NULL
);
CREATE INDEX exports_expiry ON exports (expires_at);

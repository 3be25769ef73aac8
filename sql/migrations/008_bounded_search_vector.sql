-- Indexing never fails a save (issue 26 §1). PostgreSQL refuses a tsvector over 1 MiB ("string is too
-- long for tsvector"), and a generated column that raises makes the whole UPDATE fail: a reply of
-- ~850 KB of distinct words (code, numbers, a hex dump) was streamed in full and then lost at its final
-- save. A message is now indexed by message_search_vector, which indexes a long message's beginning
-- and never raises.
--
-- Sizes measured on PostgreSQL 15 (hex words, URLs, hyphenated compounds, CJK): a tsvector is at most
-- ~3.2x the bytes of its text. Text up to 128 KiB cannot reach the limit and takes the plain path (no
-- subtransaction: that is nearly every message). A longer text indexes its first SEARCH_INDEXED_CHARS
-- characters; should even that exceed the limit, a shorter beginning, and at worst nothing.

CREATE FUNCTION message_search_text(content jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_path_query_array(content, '$[*].text')::text || ' '
           || jsonb_path_query_array(content, '$[*].code')::text
$$;

CREATE FUNCTION message_search_vector(content jsonb) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    doc text := message_search_text(content);
BEGIN
    IF octet_length(doc) <= 131072 THEN
        RETURN to_tsvector('english'::regconfig, doc);
    END IF;
    BEGIN
        RETURN to_tsvector('english'::regconfig, left(doc, 262144));  -- SEARCH_INDEXED_CHARS
    EXCEPTION WHEN program_limit_exceeded THEN
        BEGIN
            RETURN to_tsvector('english'::regconfig, left(doc, 32768));
        EXCEPTION WHEN program_limit_exceeded THEN
            RETURN ''::tsvector;
        END;
    END;
END
$$;

-- PostgreSQL 15 cannot change a generated column's expression: the column and its index are rebuilt
-- (this rewrites the messages table once).
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search_vector;
ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (message_search_vector(content)) STORED;
CREATE INDEX messages_search ON messages USING gin (search_vector);

-- Full-text search: what of a message is indexed, and how (never raising).
-- message_search_vector computes a generated column: a change here reaches stored rows only through a
-- migration that rebuilds the column (see sql/migrations/008).

CREATE OR REPLACE FUNCTION message_search_text(content jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_path_query_array(content, '$[*].text')::text || ' '
           || jsonb_path_query_array(content, '$[*].code')::text
$$;

CREATE OR REPLACE FUNCTION message_search_vector(content jsonb) RETURNS tsvector
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

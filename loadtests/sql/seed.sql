-- name: seed_session!
-- One session for a client, of a given type, with an explicit id.
INSERT INTO sessions (id, client_id, session_type_id, available_capabilities, metadata)
VALUES (%(id)s, %(client_id)s, %(session_type_id)s, '[]', %(metadata)s);

-- name: seed_sessions!
-- Many sessions for one client (ids derived from the client id and a number).
INSERT INTO sessions (id, client_id, session_type_id, available_capabilities, metadata)
SELECT md5(%(client_id)s || ':' || n)::uuid, %(client_id)s, %(session_type_id)s, '[]',
       jsonb_build_object('title', 'seeded session ' || n)
  FROM generate_series(1, %(count)s) AS n;

-- name: seed_chain!
-- A linear conversation of `count` messages in each given session, with varied English sentences.
WITH words AS (
    SELECT ARRAY['river','mountain','coffee','garden','rocket','violin','planet','harbor','lantern','meadow',
                 'running','cooking','painting','travel','weather','budget','library','engine','forest','ocean',
                 'winter','summer','letter','market','science','history','music','bridge','island','castle']
           AS w
)
INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active)
SELECT md5(s.id::text || ':' || i)::uuid, s.id,
       CASE WHEN i = 1 THEN NULL ELSE md5(s.id::text || ':' || (i - 1))::uuid END,
       CASE WHEN i %% 2 = 1 THEN 'user' ELSE 'assistant' END,
       jsonb_build_array(jsonb_build_object('type', 'text', 'text',
           'We talked about the ' || w[1 + (i * 7) %% 30] || ' and the ' || w[1 + (i * 13) %% 30] ||
           ' while ' || w[1 + (i * 17) %% 30] || ' plans for ' || w[1 + (i * 23) %% 30] || ' kept ' ||
           w[1 + (i * 29 + length(s.id::text)) %% 30] || ' in mind, message ' || i)),
       0, true
  FROM sessions s, words, generate_series(1, %(count)s) AS i
 WHERE s.id = ANY(%(session_ids)s::uuid[]);

-- name: search_floor*
-- The raw in-session search the engine runs, without HTTP: the baseline for the search benchmark.
SELECT id, ts_rank_cd(search_vector, websearch_to_tsquery('english', %(query)s)) AS rank
  FROM messages
 WHERE session_id = %(session_id)s AND search_vector @@ websearch_to_tsquery('english', %(query)s)
 ORDER BY rank DESC
 LIMIT 20;

-- name: client_sessions_except*
-- A client's session ids other than the given ones.
SELECT id FROM sessions WHERE client_id = %(client_id)s AND NOT id = ANY(%(excluded)s::uuid[]);

-- name: search_session*
-- Full-text matches in one session's owner tree, best first, after an optional keyset cursor.
WITH query AS (SELECT websearch_to_tsquery('english', %(query)s) AS q),
matches AS (
    SELECT m.id, m.parent_id, m.role, m.content, m.variant_index, m.is_active, m.created_at,
           ts_rank_cd(m.search_vector, query.q) AS rank, count(*) OVER () AS total
      FROM messages m, query
     WHERE m.session_id = %(session_id)s AND m.search_vector @@ query.q
       AND NOT m.is_hidden_from_user AND m.recipient_client_id IS NULL
), page AS (
    SELECT * FROM matches
     WHERE %(after_rank)s::real IS NULL
        OR (rank, created_at, id) < (%(after_rank)s::real, %(after_created_at)s::timestamptz, %(after_id)s::uuid)
     ORDER BY rank DESC, created_at DESC, id DESC
     LIMIT %(limit)s OFFSET %(offset)s
)
SELECT page.*, place.variant_path, place.on_active_path,
       ts_headline('english', left(message_search_text(page.content), 262144), query.q,
                   'MaxFragments=2, MaxWords=20, MinWords=5, StartSel=<mark>, StopSel=</mark>') AS context
  FROM page
 CROSS JOIN query
CROSS JOIN LATERAL message_place(page.id, %(session_id)s) place
 ORDER BY rank DESC, created_at DESC, id DESC;

-- name: search_sessions*
-- Sessions of a caller ranked by their best full-text match, with up to 3 matches each.
WITH query AS (SELECT websearch_to_tsquery('english', %(query)s) AS q),
matches AS (
    SELECT m.id, m.session_id, m.parent_id, m.role, m.content, m.variant_index, m.is_active, m.created_at,
           ts_rank_cd(m.search_vector, query.q) AS rank
      FROM messages m
      JOIN sessions s ON s.id = m.session_id AND s.client_id = %(client_id)s, query
     WHERE m.search_vector @@ query.q AND NOT m.is_hidden_from_user AND m.recipient_client_id IS NULL
), ranked AS (
    SELECT matches.*, row_number() OVER (PARTITION BY session_id ORDER BY rank DESC, created_at DESC) AS nth,
           max(rank) OVER (PARTITION BY session_id) AS session_rank
      FROM matches
), groups AS (
    SELECT session_id, max(session_rank) AS session_rank, max(created_at) AS latest, count(*) OVER () AS total
      FROM ranked GROUP BY session_id
), page AS (
    SELECT * FROM groups
     WHERE %(after_rank)s::real IS NULL
        OR (session_rank, latest, session_id)
           < (%(after_rank)s::real, %(after_created_at)s::timestamptz, %(after_id)s::uuid)
     ORDER BY session_rank DESC, latest DESC, session_id DESC
     LIMIT %(limit)s OFFSET %(offset)s
)
SELECT page.session_id, page.session_rank, page.latest, page.total, s.metadata,
       r.id, r.parent_id, r.role, r.content, r.variant_index, r.is_active, r.created_at, r.rank,
       place.variant_path, place.on_active_path,
       ts_headline('english', left(message_search_text(r.content), 262144), query.q,
                   'MaxFragments=2, MaxWords=20, MinWords=5, StartSel=<mark>, StopSel=</mark>') AS context
  FROM page
  JOIN sessions s ON s.id = page.session_id
  JOIN ranked r ON r.session_id = page.session_id AND r.nth <= 3
 CROSS JOIN query
CROSS JOIN LATERAL message_place(r.id, r.session_id) place
 ORDER BY page.session_rank DESC, page.latest DESC, page.session_id DESC, r.rank DESC, r.created_at DESC;

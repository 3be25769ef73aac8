"""Full-text search (ADR-0023): PostgreSQL tsvector + GIN, English stemming, ts_rank_cd, snippets."""
from app.chat import cursors
from app.db import queries as q
from app.errors import session_not_found


def _next_cursor(listing, rows, limit, rank_key, time_key, id_key):
    if len(rows) < limit or not rows:
        return None
    last = rows[-1]
    return cursors.encode(listing, float(last[rank_key]), last[time_key], last[id_key])


def _bounded(conn, timeout_ms):
    if timeout_ms:
        q.set_statement_timeout(conn, timeout_ms=int(timeout_ms))


def in_session(db, caller, session_id, query, limit, offset, cursor=None, timeout_ms=None):
    """(matches, total, next_cursor); matches are rows with `context` snippets, best first."""
    after_rank, after_created_at, after_id = cursors.decode("session_search", cursor) or (None, None, None)
    with db.read() as conn:
        _bounded(conn, timeout_ms)
        if q.get_session(conn, id=session_id, client_id=caller.client_id) is None:
            raise session_not_found(session_id)
        rows = q.search_session(conn, session_id=session_id, query=query, limit=limit, offset=offset,
                                after_rank=after_rank, after_created_at=after_created_at, after_id=after_id)
    total = rows[0]["total"] if rows else 0
    return rows, total, _next_cursor("session_search", rows, limit, "rank", "created_at", "id")


def across_sessions(db, caller, query, limit, offset, cursor=None, timeout_ms=None):
    """([(session row, [matches])], total sessions, next_cursor), sessions ranked by their best match."""
    after_rank, after_created_at, after_id = cursors.decode("search", cursor) or (None, None, None)
    with db.read() as conn:
        _bounded(conn, timeout_ms)
        rows = q.search_sessions(conn, client_id=caller.client_id, query=query, limit=limit, offset=offset,
                                 after_rank=after_rank, after_created_at=after_created_at, after_id=after_id)
    groups = {}
    for row in rows:
        groups.setdefault(row["session_id"], (row, []))[1].append(row)
    ordered = list(groups.values())
    total = rows[0]["total"] if rows else 0
    heads = [head for head, _ in ordered]
    return ordered, total, _next_cursor("search", heads, limit, "session_rank", "latest", "session_id")

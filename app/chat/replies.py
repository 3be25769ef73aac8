"""How a reply's end and its chunks are stored, for whoever stores them: the exchange at its end, the
chunk log while it streams, an instance ending a reply whose own instance could not.

`stop_reason` in a message's metadata is the engine's: why a reply ended incomplete, absent on a
complete one. Its values are named by app.streams.outcomes; the one the domain writes itself is here.
"""
from psycopg.types.json import Jsonb

from app.db import queries as q
from app.metrics import get_metrics

STORAGE_REFUSED = "storage_refused"  # the database refused the content (not an outage, which is retried)

# A reply's chunks are stored as rows of at most BATCH_MAX_CHUNKS chunks and about BATCH_MAX_CHARS of
# content: a rejoin reads from the row holding its offset, so a row's size bounds what one read of a
# rejoin expands, however fast the backend was or however long the reply went unflushed.
BATCH_MAX_CHUNKS = 256
BATCH_MAX_CHARS = 64 * 1024


def chunk_rows(first_index, chunks):
    """`chunks` (numbered from `first_index`) as rows to store: [{first_index, chunks}], split where a
    row would pass either bound. The split depends only on what precedes it, so a batch retried with
    more chunks splits the same way, its last row longer (which the conflict rule keeps)."""
    rows, start, chars = [], 0, 0
    for offset, chunk in enumerate(chunks):
        content = chunk.get("content")
        size = len(content) if isinstance(content, str) else 64
        if offset > start and (offset - start >= BATCH_MAX_CHUNKS or chars + size > BATCH_MAX_CHARS):
            rows.append({"first_index": first_index + start, "chunks": chunks[start:offset]})
            start, chars = offset, 0
        chars += size
    if start < len(chunks):
        rows.append({"first_index": first_index + start, "chunks": chunks[start:]})
    return Jsonb(rows)


def end_metadata(backend_metadata, stop_reason):
    """What a reply's metadata gets at its end: the backend's, with the engine's `stop_reason` (None:
    complete). A backend's own stop_reason (an LLM's "end_turn") is kept as `backend_stop_reason`."""
    metadata = dict(backend_metadata or {})
    if "stop_reason" in metadata:
        metadata["backend_stop_reason"] = metadata.pop("stop_reason")
    if stop_reason:
        metadata["stop_reason"] = stop_reason
    return metadata


def end_unstored(db, session_id, message_id, lapsed_only=False, judge_settle=None):
    """The last resort when the database refuses a reply's content: the live row goes, so the session
    takes messages again and no sweep retries it forever; the message keeps what it had and says
    `storage_refused`. Returns [] (the content stored), or None when it was not live."""
    with db.transaction() as conn:
        if q.live_reply(conn, session_id=session_id, message_id=message_id) is None:
            return None
        q.lock_session_row(conn, id=session_id)
        if q.claim_live_reply(conn, session_id=session_id, message_id=message_id, lapsed_only=lapsed_only,
                              judge_settle=judge_settle) is None:
            return None
        q.end_unstored_reply(conn, session_id=session_id, message_id=message_id,
                             metadata=Jsonb({"stop_reason": STORAGE_REFUSED}))
    get_metrics().reply_ended(STORAGE_REFUSED)
    return []

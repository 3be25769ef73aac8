"""A change feed per client (GET /api/v1/events): the caller's replies started and ended, messages deleted,
active paths changed, sessions created, updated and deleted, reactions set.

PostgreSQL is the truth: triggers record each change of a client that follows a feed as a `client_events`
row, in the transaction of the change (sql/functions/feed.sql); NOTIFY only wakes readers. A cursor names a
place in that order (sql/migrations/022: the writing transaction's id, then the row's), so a client that
reconnects with its last cursor, on any instance, misses nothing and sees nothing twice, within
FEED_RETENTION_SECONDS; a cursor events may have been lost after (pruned past it, or the client stopped
following for longer) is 410. A cursor's last part is its event's time, for the reader; validity is decided
by the database, not by it. Events are recorded only while the client follows a feed
(a connection within the retention): a client that never opened one costs each change a trigger's look.
"""
import hashlib
import re
import uuid

from app import ids
from app.db import queries as q
from app.errors import gone, invalid

_CURSOR = re.compile(r"\A([0-9]{1,20})\.([0-9]{1,19})\.([0-9]{1,12})\Z")
XID8_MAX, BIGINT_MAX = 2**64 - 1, 2**63 - 1
BATCH = 100


def feed_key(client_id):
    """The uuid its readers listen under (sql/functions/feed.sql: feed_key spells it too)."""
    return uuid.UUID(hashlib.md5(f"chat-engine-feed:{client_id}".encode()).hexdigest())


class Place:
    """Where a reader is: after the event (tx, id), whose time was `at` (Unix seconds)."""

    def __init__(self, tx, event_id, at):
        self.tx, self.event_id, self.at = str(tx), int(event_id), int(at)

    @property
    def cursor(self):
        return f"{self.tx}.{self.event_id}.{self.at}"


def parse_cursor(cursor):
    match = _CURSOR.match(cursor)
    if match is None or int(match.group(1)) > XID8_MAX or int(match.group(2)) > BIGINT_MAX:
        raise invalid("not a cursor this feed gave out", field="after", code="invalid_cursor")
    return Place(*match.groups())


def _expired(retention_seconds):
    return gone(f"events after this cursor may be gone (the feed keeps them {int(retention_seconds)} s, and "
                "records them only while the client follows it): read the state afresh (GET /sessions), then "
                "follow the feed without a cursor", field="after", code="cursor_expired")


def follow(db, caller, cursor, retention_seconds):
    """Start following: the client's changes are recorded from now on. Returns where to read from: after
    `cursor`, or (None) after everything finished now. A cursor is good while the client has followed its
    feed since (within the retention) and nothing after it was pruned; else 410."""
    place = parse_cursor(cursor) if cursor else None
    with db.transaction() as conn:
        if place is not None and not q.cursor_still_valid(conn, client_id=caller.client_id, tx=place.tx,
                                                          id=place.event_id):
            raise _expired(retention_seconds)
        q.follow_feed(conn, client_id=caller.client_id)
        if place is None:
            horizon = q.feed_horizon(conn)
            place = Place(horizon["tx"], 0, horizon["at"])
    return place


def still_following(db, client_id):
    with db.transaction() as conn:
        q.follow_feed(conn, client_id=client_id)


def read(db, client_id, place):
    """(events as they are sent, the place after them, whether more may be there already or soon)."""
    with db.transaction() as conn:
        rows = q.feed_events(conn, client_id=client_id, tx=place.tx, id=place.event_id, limit=BATCH)
        pending = len(rows) == BATCH or q.feed_pending(conn, client_id=client_id, tx=place.tx, id=place.event_id)
    events = []
    for row in rows:
        place = Place(row["tx"], row["id"], row["at"])
        events.append({"type": row["kind"], "cursor": place.cursor,
                       "session_id": ids.session_gts(row["session_id"]) if row["session_id"] else None,
                       "message_id": ids.message_gts(row["message_id"]),
                       "at": row["created_at"].isoformat().replace("+00:00", "Z"), **row["data"]})
    return events, place, pending

"""Share links (ADR-0019): tokens of 43 random URL-safe characters, stored only as SHA-256 hashes."""
import hashlib
import secrets
import uuid

from app.chat import cursors, messages
from app.db import queries as q
from app.errors import invalid, not_found, session_not_found

LISTING = "shared_messages"  # the cursor of both share views (app/chat/cursors.py)


def hash_token(token):
    return hashlib.sha256(token.encode()).digest()


def share_gone():
    return not_found("share link not found, revoked or expired")


def _owned(conn, caller, session_id):
    if q.get_session(conn, id=session_id, client_id=caller.client_id) is None:
        raise session_not_found(session_id)


def create(db, caller, session_id, expires_at=None):
    token = secrets.token_urlsafe(32)
    with db.transaction() as conn:
        _owned(conn, caller, session_id)
        row = q.insert_share(conn, id=uuid.uuid4(), session_id=session_id,
                             token_hash=hash_token(token), expires_at=expires_at)
    return token, row


def list_for(db, caller, session_id):
    with db.read() as conn:
        _owned(conn, caller, session_id)
        return q.list_shares(conn, session_id=session_id)


def revoke(db, caller, session_id, share_id):
    with db.transaction() as conn:
        _owned(conn, caller, session_id)
        if q.revoke_share(conn, id=share_id, session_id=session_id) is None:
            raise not_found("share not found")


def open_shared(db, token, recipient=None, limit=100, cursor=None):
    """(session, messages, next_cursor): a page of what the viewer sees: the owner's active path, or, for
    an authenticated recipient, that path continued by the recipient's own branch.

    A cursor names its share and the page's last message: one of another share, or naming
    a message that is not on what this share shows now (say, one an edit took off the active path,
    whose abandoned branch would be walked below it), is a 400."""
    share_id, after_id = cursors.decode(LISTING, cursor) or (None, None)
    with db.read() as conn:
        session = q.session_by_share(conn, token_hash=hash_token(token))
        if session is None:
            raise share_gone()
        if cursor and (share_id != session["share_id"] or not q.on_shared_path(
                conn, session_id=session["id"], message_id=after_id, recipient=recipient)):
            raise invalid("not a valid cursor for this share", field="cursor")
        if recipient is None:
            rows = q.active_path_page(conn, session_id=session["id"], after_id=after_id, limit=limit + 1)
        else:
            rows = q.recipient_path_page(conn, session_id=session["id"], recipient=recipient, after_id=after_id,
                                         limit=limit + 1)
        walked = rows[:limit]
        next_cursor = cursors.encode(LISTING, session["share_id"], walked[-1]["id"]) if len(rows) > limit else None
        visible = [r for r in walked if not r["is_hidden_from_user"]]
        return session, messages.with_variant_counts(conn, session["id"], visible, recipient), next_cursor

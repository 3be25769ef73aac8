"""Fork: continue a conversation as a new session of the caller's, from a message of the path it was on.

The owner forks any message of their tree (`POST /sessions/{id}/fork`); a share recipient forks a message of
what the share shows them (`POST /share/{token}/fork`). The new session has the source's type, its backend
gets `session.created` as for any new session, and its active path is a copy of the path from the root down
to that message (variants off the path stay behind). A recipient's copy leaves out the owner's messages hidden
from users (system prompts, notes), which the recipient never saw. A path with a reply still streaming on it
is not forked (409 `reply_in_progress`): its content is not final yet.
"""
import uuid

from psycopg.types.json import Jsonb

from app import ids
from app.chat import shares
from app.chat.sessions import announce
from app.db import queries as q
from app.errors import conflict, message_not_found, session_not_found


def fork_session(db, webhooks, caller, session_id, message_id=None, title=None):
    with db.transaction() as conn:
        source = q.get_session(conn, id=session_id, client_id=caller.client_id)
        if source is None:
            raise session_not_found(session_id)
        message_id = message_id or _last(q.active_path(conn, session_id=session_id))
        _check(conn, source, message_id, recipient=None)
    return _fork(db, webhooks, caller, source, message_id, title, recipient=None)


def fork_shared(db, webhooks, caller, token, message_id=None, title=None):
    recipient = caller.client_id
    with db.transaction() as conn:
        source = q.session_by_share(conn, token_hash=shares.hash_token(token))
        if source is None:
            raise shares.share_gone()
        if message_id is None:
            message_id = _last(q.recipient_path(conn, session_id=source["id"], recipient=recipient))
        elif not q.on_shared_path(conn, session_id=source["id"], message_id=message_id, recipient=recipient):
            raise message_not_found(message_id)
        _check(conn, source, message_id, recipient)
    return _fork(db, webhooks, caller, source, message_id, title, recipient)


def _last(path):
    return path[-1]["id"] if path else None


def _check(conn, source, message_id, recipient):
    if message_id is None:  # an empty session: the fork is empty too
        return
    found = q.fork_source(conn, source_id=source["id"], message_id=message_id, recipient=recipient)
    if not found["messages"] or not found["visible"]:
        raise message_not_found(message_id)
    if found["streaming"]:
        raise conflict("a reply on this path is still streaming; fork once it has ended",
                       reason="reply_in_progress", field="message_id")


def _fork(db, webhooks, caller, source, message_id, title, recipient):
    with db.transaction() as conn:
        session_type = q.get_session_type(conn, id=source["session_type_id"])
    fork_id = uuid.uuid4()
    capabilities = announce(webhooks, session_type, fork_id, caller.client_id)
    metadata = {"forked_from": {"session_id": ids.session_gts(source["id"]),
                                "message_id": ids.message_gts(message_id) if message_id else None}}
    title = title or source["metadata"].get("title")
    if isinstance(title, str):
        metadata["title"] = title
    with db.transaction() as conn:
        row = q.insert_session(conn, id=fork_id, client_id=caller.client_id, session_type_id=session_type["id"],
                               capabilities=Jsonb(capabilities), metadata=Jsonb(metadata))
        if message_id is not None:
            _check(conn, source, message_id, recipient)  # again: the path may have changed during the call
            q.copy_into_fork(conn, source_id=source["id"], message_id=message_id, fork_id=fork_id,
                             recipient=recipient)
    return row

"""Fork: continue a conversation as a new session of the caller's, from a message of the path it was on.

The owner forks any message of their tree (`POST /sessions/{id}/fork`); a share recipient forks a message of
what the share shows them (`POST /share/{token}/fork`). The new session has the source's type, its backend
gets `session.created` as for any new session, and its active path is a copy of the path from the root down
to that message (variants off the path stay behind). A recipient's copy leaves out what the share view never
shows them: the owner's messages hidden from users (system prompts) and the metadata of the owner's messages
(usage, the session type, whatever the owner stored there; a stop reason is kept). A path with a reply still
streaming on it is not forked (409 `reply_in_progress`): its content is not final yet.

Everything is checked twice, each time under a share lock of the source's row (every tree write holds that
row's lock, so the path holds still while it is checked and copied): before the backend is called (so a
refused fork calls nobody), and again in the transaction that copies, since the share may have been revoked
or the path changed while the backend answered. A fork refused the second time tells the backend the
session it was just told about is gone (`session.deleted`).
"""
import logging
import uuid

from psycopg.types.json import Jsonb

from app import ids
from app.chat import shares
from app.chat.sessions import announce
from app.db import queries as q
from app.errors import conflict, message_not_found, session_not_found
from app.webhooks import events, outbox

log = logging.getLogger(__name__)

def fork_session(db, webhooks, caller, session_id, message_id=None, title=None):
    def source(conn):
        found = q.lock_owned_session_for_fork(conn, id=session_id, client_id=caller.client_id)
        if found is None:
            raise session_not_found(session_id)
        return found

    return _fork(db, webhooks, caller, source, message_id, title, recipient=None)


def fork_shared(db, webhooks, caller, token, message_id=None, title=None):
    def source(conn):
        found = q.lock_shared_session_for_fork(conn, token_hash=shares.hash_token(token))
        if found is None:
            raise shares.share_gone()
        return found

    return _fork(db, webhooks, caller, source, message_id, title, recipient=caller.client_id)


def _last_seen(conn, session_id, recipient):
    """The last message of the path the caller sees (recipient None: the owner's active path)."""
    path = q.recipient_path(conn, session_id=session_id, recipient=recipient)
    return path[-1]["id"] if path else None


def _check(conn, found, message_id, recipient):
    """The path down to `message_id` may be forked by this caller: it is theirs to see, and final."""
    if message_id is None:  # an empty session: the fork is empty too
        return
    if recipient is not None and not q.on_shared_path(conn, session_id=found["id"], message_id=message_id,
                                                      recipient=recipient):
        raise message_not_found(message_id)
    path = q.fork_source(conn, source_id=found["id"], message_id=message_id, recipient=recipient)
    if not path["messages"] or not path["visible"]:
        raise message_not_found(message_id)
    if path["streaming"]:
        raise conflict("a reply on this path is still streaming; fork once it has ended",
                       reason="reply_in_progress", field="message_id")


def _fork(db, webhooks, caller, source, message_id, title, recipient):
    with db.transaction() as conn:
        found = source(conn)
        message_id = message_id or _last_seen(conn, found["id"], recipient)
        _check(conn, found, message_id, recipient)
        session_type = q.get_session_type(conn, id=found["session_type_id"])
    fork_id = uuid.uuid4()
    capabilities = announce(webhooks, session_type, fork_id, caller.client_id)
    metadata = {"forked_from": {"session_id": ids.session_gts(found["id"]),
                                "message_id": ids.message_gts(message_id) if message_id else None}}
    title = title or found["metadata"].get("title")
    if isinstance(title, str):
        metadata["title"] = title
    try:
        with db.transaction() as conn:
            _check(conn, source(conn), message_id, recipient)
            row = q.insert_session(conn, id=fork_id, client_id=caller.client_id,
                                   session_type_id=session_type["id"], capabilities=Jsonb(capabilities),
                                   metadata=Jsonb(metadata))
            if message_id is not None:
                q.copy_into_fork(conn, source_id=found["id"], message_id=message_id, fork_id=fork_id,
                                 recipient=recipient)
    except Exception:
        _retract(db, session_type["id"], fork_id)
        raise
    return row


def _retract(db, session_type_id, fork_id):
    """The backend was told `session.created` for a fork that was then refused: tell it `session.deleted`.
    Through the outbox, in a transaction of its own (there is no change to commit it with)."""
    try:
        with db.transaction() as conn:
            outbox.enqueue(conn, session_type_id, events.session_deleted(fork_id))
    except Exception as exc:  # noqa: BLE001 - the refusal the caller gets matters more than this notice
        log.warning("fork %s: its session.deleted notice could not be written (%s)", fork_id, exc)

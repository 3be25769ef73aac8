"""Send, recreate, summarize: the database work before and after a backend call (the hot path).

`start_*` runs transaction 1 (lock the session, place the new messages in the tree, read the
history) and returns an Exchange; the relay calls the backend with no connection held, then
`Exchange.save` runs transaction 2.
"""
import uuid
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from app import ids
from app.chat import capabilities, shares
from app.db import queries as q
from app.errors import invalid, message_not_found, session_not_found
from app.webhooks import events
from app.webhooks.client import Target


@dataclass
class Exchange:
    db: object
    webhooks: object
    session_id: uuid.UUID
    message_id: uuid.UUID
    target: Target
    stream: object
    user_message_id: uuid.UUID = None

    @property
    def public_message_id(self):
        return ids.message_gts(self.message_id)

    def start_event(self):
        return {"type": "start", "message_id": self.public_message_id}

    def headers(self):
        headers = {"X-Assistant-Message-Id": self.public_message_id}
        if self.user_message_id:
            headers["X-User-Message-Id"] = ids.message_gts(self.user_message_id)
        return headers

    def save(self, parts, metadata, complete):
        with self.db.transaction() as conn:
            q.finish_assistant_message(conn, message_id=self.message_id, session_id=self.session_id,
                                       content=Jsonb(parts), is_complete=complete, metadata=Jsonb(metadata or {}))

    def aborted(self, parts):
        self.webhooks.notify(self.target, events.message_aborted(self.session_id, self.message_id, parts))


class SummaryExchange(Exchange):
    """A summary streams like a reply but is stored in the session's metadata under "summary"."""

    def save(self, parts, metadata, complete):
        text = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
        summary = {"summary_id": self.public_message_id, "text": text, "is_complete": complete,
                   "session_type_id": self.target.session_type_id.split("#")[0],
                   "created_at": events.now_iso(), "metadata": metadata or {}}
        with self.db.transaction() as conn:
            q.store_summary(conn, id=self.session_id, summary=Jsonb(summary))


def _target(session):
    return Target(session["session_type_id"], session["webhook_url"], session["timeout_seconds"])


class _Admission:
    """Breaker admission taken inside transaction 1, so an open breaker stores nothing. If the
    exchange then fails to start (404, 400, a failed commit), the admission is given back."""

    def __init__(self, webhooks):
        self.webhooks = webhooks
        self.stream = None

    def admit(self, target, event):
        self.stream = self.webhooks.stream(target, event)
        return self.stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None and self.stream is not None:
            self.stream.finish(cancelled=True)
        return False


def start_send(db, webhooks, caller, session_id, content, parent_id=None, file_ids=(), enabled=None,
               edited_id=None):
    """A user turn below the active leaf, below `parent_id` (a branch), or, with `edited_id`, as the
    next variant of that user message (an edit: same parent, so the first message can be edited too)."""
    return _start_turn(db, webhooks, content, parent_id, file_ids, enabled, recipient=None, edited_id=edited_id,
                       lock=lambda conn: q.lock_session_for_exchange(conn, id=session_id,
                                                                     client_id=caller.client_id),
                       missing=lambda: session_not_found(session_id))


def start_shared_send(db, webhooks, caller, token, content, file_ids=(), enabled=None):
    """A share recipient's message: it continues the recipient's own branch, which starts below the
    owner's last message; the owner's active path and flags are never touched."""
    return _start_turn(db, webhooks, content, None, file_ids, enabled, recipient=caller.client_id, edited_id=None,
                       lock=lambda conn: q.lock_session_by_share(conn, token_hash=shares.hash_token(token)),
                       missing=shares.share_gone)


def _start_turn(db, webhooks, content, parent_id, file_ids, enabled, recipient, edited_id, lock, missing):
    user_id, assistant_id = uuid.uuid4(), uuid.uuid4()
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = lock(conn)
        if session is None:
            raise missing()
        session_id = session["id"]
        chosen = capabilities.select(session["available_capabilities"], enabled)
        capabilities.check_files(session["accepts_files"], file_ids)
        stream = admission.admit(_target(session), "message.new")
        if recipient is not None:
            path = q.recipient_path(conn, session_id=session_id, recipient=recipient)
            parent_id = path[-1]["id"] if path else None
        elif edited_id is not None:
            path, parent_id = _edit_point(conn, session_id, edited_id)
        elif parent_id is None:
            path = q.active_path(conn, session_id=session_id)
            parent_id = path[-1]["id"] if path else None
        else:
            path = q.ancestor_path(conn, session_id=session_id, message_id=parent_id)
            if not path or path[-1]["is_hidden_from_user"]:
                raise message_not_found(parent_id)
        q.insert_user_turn(conn, session_id=session_id, parent_id=parent_id,
                           user_message_id=user_id, assistant_message_id=assistant_id,
                           content=Jsonb([{"type": "text", "text": content}]), file_ids=list(file_ids),
                           recipient_client_id=recipient, user_metadata=Jsonb({}),
                           assistant_metadata=Jsonb({"session_type_id": session["session_type_id"]}))
        if recipient is None and not all(row["is_active"] for row in path):
            # Branching from a message off the active path: its whole chain becomes active.
            q.activate_path(conn, session_id=session_id, message_id=parent_id)
    stream.payload = events.message_new(session_id, assistant_id, session["metadata"], chosen, content,
                                        file_ids, events.history(path))
    return Exchange(db, webhooks, session_id, assistant_id, _target(session), stream, user_message_id=user_id)


def _edit_point(conn, session_id, edited_id):
    """(history path, parent) for a new variant of a user message: the path above it, its parent."""
    path = q.ancestor_path(conn, session_id=session_id, message_id=edited_id)
    if not path or path[-1]["is_hidden_from_user"] or path[-1]["recipient_client_id"] is not None:
        raise message_not_found(edited_id)
    if path[-1]["role"] != "user":
        raise invalid("only user messages can be edited", field="edited_message_id", code="not_user")
    return path[:-1], path[-1]["parent_id"]


def start_recreate(db, webhooks, caller, message_id, enabled=None):
    assistant_id = uuid.uuid4()
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = q.lock_session_of_message(conn, message_id=message_id, client_id=caller.client_id)
        if session is None:
            raise message_not_found(message_id)
        if session["message_role"] != "assistant":
            raise invalid("only assistant messages can be recreated", field="id", code="not_assistant")
        chosen = capabilities.select(session["available_capabilities"], enabled)
        stream = admission.admit(_target(session), "message.recreate")
        parent_id = session["message_parent_id"]
        path = q.ancestor_path(conn, session_id=session["id"], message_id=parent_id)
        q.insert_assistant_variant(conn, session_id=session["id"], parent_id=parent_id,
                                   assistant_message_id=assistant_id, recipient_client_id=None,
                                   assistant_metadata=Jsonb({"session_type_id": session["session_type_id"]}))
        if not all(row["is_active"] for row in path):
            q.activate_path(conn, session_id=session["id"], message_id=assistant_id)
    stream.payload = events.message_recreate(session["id"], assistant_id, chosen, events.history(path))
    return Exchange(db, webhooks, session["id"], assistant_id, _target(session), stream)


def start_summary(db, webhooks, caller, session_id, enabled=None):
    """session.summary to the dedicated summarization service when configured, else the backend."""
    with _Admission(webhooks) as admission, db.transaction() as conn:
        session = q.lock_session_for_exchange(conn, id=session_id, client_id=caller.client_id)
        if session is None:
            raise session_not_found(session_id)
        if not session["summarization_enabled"]:
            raise invalid("this session type does not enable summarization", field="session_id",
                          code="summarization_disabled")
        chosen = capabilities.select(session["available_capabilities"], enabled)
        path = q.active_path(conn, session_id=session_id)
        if not events.history(path):
            raise invalid("nothing to summarize yet")
        target = _target(session)
        if session["summarization_url"]:
            # Its own breaker: the summarizer failing must not block the chat backend.
            target = Target(session["session_type_id"] + "#summarization", session["summarization_url"],
                            session["timeout_seconds"])
        stream = admission.admit(target, "session.summary")
    stream.payload = events.session_summary(session_id, chosen, events.history(path),
                                            session["summarization_settings"])
    return SummaryExchange(db, webhooks, session_id, uuid.uuid4(), target, stream)

"""Posting a message without a backend call: system prompts, notes, imported conversations.

The message joins the owner's tree like any other: the newest active variant under its parent (the
active leaf unless named), with its visibility flags. `hidden_from_user` keeps it out of every client
read (a system prompt the backend still receives); `hidden_from_backend` keeps it out of every
history sent to a backend (a note the client still lists). A parent holds at most `max_siblings`
variants (MAX_SIBLINGS_PER_PARENT): one more is a 409 (the active leaf has none, so a post that
continues the path is never refused).
"""
import uuid

from psycopg.types.json import Jsonb

from app.chat import messages, paths
from app.config import DEFAULT_MAX_SIBLINGS_PER_PARENT
from app.db import queries as q
from app.errors import message_not_found, session_not_found


def post_message(db, caller, session_id, role, content, parent_id=None, hidden_from_user=False,
                 hidden_from_backend=False, metadata=None, max_siblings=DEFAULT_MAX_SIBLINGS_PER_PARENT):
    """Store the message and return its row (with variant counts). `parent_id` None: the active leaf."""
    message_id = uuid.uuid4()
    with db.transaction() as conn:
        if q.lock_session(conn, id=session_id, client_id=caller.client_id) is None:
            raise session_not_found(session_id)
        if parent_id is None:
            path = paths.active(conn, session_id)
            parent_id = path[-1]["id"] if path else None
        else:
            path = paths.down_to(conn, session_id, parent_id)
            if not path or path[-1]["recipient_client_id"] is not None:
                raise message_not_found(parent_id)
        placed = q.insert_posted_message(conn, id=message_id, session_id=session_id, parent_id=parent_id, role=role,
                                         content=Jsonb(content), hidden_from_user=hidden_from_user,
                                         hidden_from_backend=hidden_from_backend, metadata=Jsonb(metadata or {}),
                                         max_siblings=max_siblings)
        if placed is None:
            raise messages.too_many_variants(max_siblings, "parent_message_id")
        if not all(row["is_active"] for row in path):
            # Posting below a message off the active path: its chain becomes active, as a branch does.
            q.activate_path(conn, session_id=session_id, message_id=message_id)
        row = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
        return messages.with_variant_counts(conn, session_id, [row])[0]

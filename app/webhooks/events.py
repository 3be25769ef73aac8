"""Payloads the engine sends, shaped as reference/schemas/webhook/*Event.json."""
from datetime import UTC, datetime

from app import ids


class JsonText(str):
    """A value already encoded as JSON (history items built by PostgreSQL, sql/migrations/005): the
    request body takes it as is (app.webhooks.client.encode), instead of parsing it into Python objects
    only to encode them again."""

    @classmethod
    def array(cls, items):
        return cls("[" + ",".join(items) + "]")


def now_iso():
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def session_created(session_id, session_type_id, client_id):
    return {"event": "session.created", "session_id": ids.session_gts(session_id),
            "session_type_id": session_type_id, "client_id": client_id, "timestamp": now_iso()}


def session_deleted(session_id):
    return {"event": "session.deleted", "session_id": ids.session_gts(session_id), "timestamp": now_iso()}


def health_check(session_type_id):
    return {"event": "session_type.health_check", "session_type_id": session_type_id, "timestamp": now_iso()}


# The key of session_metadata that names who sent a message through a share: the event's
# top level and its `message` allow no extra properties; session_metadata is the object that does.
SENDER_KEY = "chat_engine_sender"


def _with_sender(session_metadata, recipient):
    """The owner's session metadata, plus the sender when a share recipient sent the message. The key is
    the engine's: a value the owner stored under it is dropped, so it can never name someone else."""
    if recipient is None and SENDER_KEY not in session_metadata:
        return session_metadata  # the owner's send, the hot path: nothing to copy
    metadata = {key: value for key, value in session_metadata.items() if key != SENDER_KEY}
    if recipient is not None:
        metadata[SENDER_KEY] = {"client_id": recipient, "via_share": True}
    return metadata


# The key of session_metadata that says what part of the path `history` holds when the session type has
# history_window_messages: {window_messages, omitted_messages, summary_id} (docs/webhooks.md).
HISTORY_KEY = "chat_engine_history"


def message_new(session_id, message_id, session_metadata, capabilities, content, file_ids, history, recipient=None,
                history_window=None):
    """`recipient`: the client id of a share recipient who sent it (None: the session's owner).
    `history_window`: what windowed_history left out (None: the history is the whole path)."""
    session_metadata = _with_sender(session_metadata, recipient)
    if history_window is not None or HISTORY_KEY in session_metadata:  # the key is the engine's alone
        session_metadata = {key: value for key, value in session_metadata.items() if key != HISTORY_KEY}
        if history_window is not None:
            session_metadata[HISTORY_KEY] = history_window
    message = {"role": "user", "content": content}
    if file_ids:
        message["file_ids"] = [str(f) for f in file_ids]
    return {"event": "message.new", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "session_metadata": session_metadata,
            "enabled_capabilities": capabilities, "message": message, "history": history,
            "timestamp": now_iso()}


def message_recreate(session_id, message_id, capabilities, history):
    return {"event": "message.recreate", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "enabled_capabilities": capabilities,
            "history": history, "timestamp": now_iso()}


def session_summary(session_id, capabilities, history, settings):
    return {"event": "session.summary", "session_id": ids.session_gts(session_id),
            "enabled_capabilities": capabilities, "history": history,
            "summarization_settings": settings or None, "timestamp": now_iso()}


def message_aborted(session_id, message_id, partial_content):
    return {"event": "message.aborted", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "partial_content": partial_content,
            "timestamp": now_iso()}


def message_reaction(session_id, message_id, user_id, reaction_type, previous):
    return {"event": "message.reaction", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "user_id": user_id, "reaction_type": reaction_type,
            "previous_reaction_type": previous, "timestamp": now_iso()}

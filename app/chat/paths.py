"""Paths through a session's tree as the send path reads them: root first, each row carrying the
flags a send decides on and its webhook history item, rendered when the message was written
(messages.history_item; sql/functions/history.sql) and read as stored text."""
from app.db import queries as q
from app.webhooks.events import JsonText


def active(conn, session_id):
    """The owner's active path."""
    return q.active_path(conn, session_id=session_id)


def down_to(conn, session_id, message_id):
    """From the root down to one message (inclusive); empty when it is not in the session."""
    return q.ancestor_path(conn, session_id=session_id, message_id=message_id)


def of_recipient(conn, session_id, recipient):
    """A share recipient's path: their own branch where they have one, else the owner's."""
    return q.recipient_path(conn, session_id=session_id, recipient=recipient)


def history(path):
    """The history sent to a backend, as JSON texts of its items: messages hidden from it and empty
    placeholders left out."""
    return [row["history_item"] for row in path if row["history_item"] is not None]


def history_json(path):
    """`history(path)` as the one JSON array text a webhook event carries."""
    return JsonText.array(history(path))

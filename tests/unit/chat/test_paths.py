"""app/chat/paths.py against the real database: the history items PostgreSQL builds
(webhook_history_item) are the webhook's Message shape, and leave out what a backend never sees."""
import json
from datetime import datetime

from app import ids
from app.chat import paths, posting


def post(database, caller, session_id, role, text, **flags):
    return posting.post_message(database, caller, session_id, role, [{"type": "text", "text": text}], **flags)


def test_history_items_are_webhook_messages_without_what_the_backend_must_not_see(database, caller, make_session,
                                                                                    conn):
    session_id = make_session()
    system = post(database, caller, session_id, "system", "be brief", hidden_from_user=True)
    post(database, caller, session_id, "user", "a note", hidden_from_backend=True)
    question = post(database, caller, session_id, "user", "ünïcode \"quoted\" question")
    conn.execute("UPDATE messages SET file_ids = %s WHERE id = %s",
                 (["0e4b1c9e-3f7a-4c52-9d1e-2a6f5b8c7d90"], question["id"]))

    path = paths.active(conn, session_id)
    assert [row["id"] for row in path][-1] == question["id"]
    items = [json.loads(text) for text in paths.history(path)]  # each one valid JSON text on its own

    assert [item["role"] for item in items] == ["system", "user"]  # the note hidden from the backend is left out
    first, second = items
    assert first["message_id"] == ids.message_gts(system["id"]) and first["parent_message_id"] is None
    assert first["session_id"] == ids.session_gts(session_id)
    assert first["content"] == [{"type": "text", "text": "be brief"}] and first["file_ids"] == []
    assert second["content"][0]["text"] == "ünïcode \"quoted\" question"
    assert second["file_ids"] == ["0e4b1c9e-3f7a-4c52-9d1e-2a6f5b8c7d90"]
    assert second["parent_message_id"].startswith(ids.MESSAGE_PREFIX)
    assert datetime.fromisoformat(second["created_at"]) >= datetime.fromisoformat(first["created_at"])
    assert set(first) == {"message_id", "session_id", "role", "content", "parent_message_id", "metadata",
                          "file_ids", "created_at"}


def test_an_empty_placeholder_is_not_history(database, caller, make_session, conn):
    session_id = make_session()
    post(database, caller, session_id, "user", "hello")
    conn.execute("INSERT INTO messages (id, session_id, parent_id, role, variant_index, is_active, is_complete) "
                 "SELECT gen_random_uuid(), session_id, id, 'assistant', 0, true, false FROM messages "
                 "WHERE session_id = %s", (session_id,))
    path = paths.active(conn, session_id)
    assert len(path) == 2 and len(paths.history(path)) == 1

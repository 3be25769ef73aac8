"""app/chat/forks.py against the real database: what is refused before the backend is ever called."""
import pytest

from app.chat import forks, posting
from app.errors import ApiError


def test_a_path_with_a_reply_still_streaming_is_not_forked(database, caller, conn, make_session, webhooks):
    session_id = make_session()
    question = posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": "hi"}])
    reply = conn.execute("INSERT INTO messages (id, session_id, parent_id, role, variant_index, is_active, "
                         "is_complete) VALUES (gen_random_uuid(), %s, %s, 'assistant', 0, true, false) RETURNING id",
                         (session_id, question["id"])).fetchone()["id"]
    conn.execute("INSERT INTO live_replies (message_id, session_id, lease_expires_at) "
                 "VALUES (%s, %s, now() + interval '1 minute')", (reply, session_id))

    with pytest.raises(ApiError) as refused:
        forks.fork_session(database, webhooks, caller, session_id)  # the default: the active leaf, streaming
    assert refused.value.status == 409
    assert refused.value.details["validation_errors"][0]["code"] == "reply_in_progress"
    conn.execute("DELETE FROM live_replies WHERE message_id = %s", (reply,))
    conn.execute("UPDATE messages SET is_complete = true, content = '[{\"type\": \"text\", \"text\": \"ok\"}]' "
                 "WHERE id = %s", (reply,))


def test_a_message_of_a_recipient_s_branch_is_not_the_owner_s_to_fork(database, caller, conn, make_session,
                                                                       webhooks):
    session_id = make_session()
    question = posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": "hi"}])
    theirs = conn.execute("INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, "
                          "is_active, recipient_client_id) VALUES (gen_random_uuid(), %s, %s, 'user', "
                          "'[{\"type\": \"text\", \"text\": \"bob\"}]', 0, true, 'bob') RETURNING id",
                          (session_id, question["id"])).fetchone()["id"]
    with pytest.raises(ApiError) as refused:
        forks.fork_session(database, webhooks, caller, session_id, message_id=theirs)
    assert refused.value.status == 404

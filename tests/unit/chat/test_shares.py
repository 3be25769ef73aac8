"""app/chat/shares.py against the real database: a share view's cursor is bound to its share and to what
the share shows; a forged one never opens an abandoned branch."""
import base64
import json

import pytest

from app.auth import Caller
from app.chat import exchanges, posting, shares
from app.errors import ApiError


def post(database, caller, session_id, text, parent_id=None):
    return posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": text}],
                                parent_id=parent_id)


def texts(rows):
    return [r["content"][0]["text"] if r["content"] else None for r in rows]


def reforged(cursor, message_id):
    """What a viewer can do with a cursor they were given: decode it, put another message id in its last
    field, encode it again (cursors are opaque, not secret)."""
    fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    fields[-1] = str(message_id)
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def refused(call):
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status == 400 and caught.value.error_code == "INVALID_REQUEST"
    assert caught.value.details["validation_errors"][0]["field"] == "cursor"


@pytest.fixture
def edited(database, caller, make_session):
    """root → "old question" → "old answer", then an edit: "new question" → "new answer" is the path."""
    session_id = make_session()
    root = post(database, caller, session_id, "root")
    old = post(database, caller, session_id, "old question", parent_id=root["id"])
    old_answer = post(database, caller, session_id, "old answer")
    post(database, caller, session_id, "new question", parent_id=root["id"])
    post(database, caller, session_id, "new answer")
    token, _ = shares.create(database, caller, session_id)
    return {"session_id": session_id, "token": token, "root": root, "old": old, "old_answer": old_answer}


def test_a_cursor_naming_a_message_an_edit_took_off_the_path_is_400(database, edited):
    _, first, cursor = shares.open_shared(database, edited["token"], limit=1)
    assert texts(first) == ["root"] and cursor
    _, rest, _ = shares.open_shared(database, edited["token"], limit=10, cursor=cursor)
    assert texts(rest) == ["new question", "new answer"]

    forged = reforged(cursor, edited["old"]["id"])  # below it: the abandoned "old answer"
    refused(lambda: shares.open_shared(database, edited["token"], limit=10, cursor=forged))


def test_a_recipients_cursor_is_checked_against_their_own_path(database, webhooks, edited):
    bob, carol = Caller(client_id="bob", is_admin=False), Caller(client_id="carol", is_admin=False)
    exchanges.start_shared_send(database, webhooks, bob, edited["token"], "bob asks").stream.finish()
    carols = exchanges.start_shared_send(database, webhooks, carol, edited["token"], "carol asks")
    carols.stream.finish()

    _, first, cursor = shares.open_shared(database, edited["token"], recipient="bob", limit=3)
    assert texts(first) == ["root", "new question", "new answer"]
    _, rest, _ = shares.open_shared(database, edited["token"], recipient="bob", limit=10, cursor=cursor)
    assert texts(rest) == ["bob asks", None]  # and the reply's placeholder
    own = reforged(cursor, rest[0]["id"])
    assert texts(shares.open_shared(database, edited["token"], recipient="bob", cursor=own)[1]) == [None]

    for off_path in (edited["old"]["id"], carols.user_message_id):  # abandoned, or another recipient's
        refused(lambda m=off_path: shares.open_shared(database, edited["token"], recipient="bob",
                                                      cursor=reforged(cursor, m)))
    # The anonymous view shows no recipient's branch, so a cursor into one is refused there too.
    refused(lambda: shares.open_shared(database, edited["token"], cursor=own))


def test_a_cursor_of_another_share_is_400(database, caller, edited):
    other_token, _ = shares.create(database, caller, edited["session_id"])  # same session, another link
    _, _, cursor = shares.open_shared(database, other_token, limit=1)
    refused(lambda: shares.open_shared(database, edited["token"], limit=10, cursor=cursor))
    assert shares.open_shared(database, other_token, limit=10, cursor=cursor)[1]


def test_message_new_through_a_share_names_its_sender_and_the_owner_cannot_forge_one(database, webhooks, caller,
                                                                                       make_session):
    forged_sender = {"client_id": "someone-else", "via_share": True}
    session_id = make_session(metadata={"plan": "pro", "chat_engine_sender": forged_sender})
    token, _ = shares.create(database, caller, session_id)

    bob = Caller(client_id="bob", is_admin=False)
    shared = exchanges.start_shared_send(database, webhooks, bob, token, "bob asks")
    shared.stream.finish()
    assert shared.payload["session_metadata"] == {"plan": "pro",
                                                  "chat_engine_sender": {"client_id": "bob", "via_share": True}}

    own = exchanges.start_send(database, webhooks, caller, session_id, "owner asks")
    own.stream.finish()
    assert own.payload["session_metadata"] == {"plan": "pro"}  # the owner's send: no sender, none forged

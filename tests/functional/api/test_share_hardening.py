"""A share view's cursor cannot open an
abandoned branch, and a backend can tell a share recipient's message from the owner's."""
import base64
import json

import requests

from support.engine import Api, expect

EVENT_FIELDS = {"event", "session_id", "message_id", "session_metadata", "enabled_capabilities", "message",
                "history", "timestamp"}  # MessageNewEvent's properties: it allows no others


def reforged(cursor, message_id=None, share_id=None):
    """A cursor a viewer was given, with another message (or share) id put in: cursors are opaque, not secret."""
    fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    fields[-1] = message_id.split("~")[-1] if message_id else fields[-1]
    fields[-2] = share_id or fields[-2]
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def test_a_forged_share_cursor_naming_an_abandoned_branch_is_400(engine_process, api, session_type, contract):
    session_id = api.create_session(session_type)
    first = api.send(session_id, "old question")
    old_question = first.user_message_id
    expect(api.post(f"/sessions/{session_id}/share", json={}), 201)  # another link, for the foreign cursor
    edit = api.send(session_id, "new question", edited_message_id=old_question)
    assert edit.types[-1] == "complete"
    token = expect(api.post(f"/sessions/{session_id}/share", json={}), 201).json()["share_token"]
    view = f"{engine_process.url}/api/v1/share/{token}"

    page = contract.validate(expect(requests.get(view, params={"limit": 1}, timeout=10), 200).json(),
                             "SharedSession")
    assert [m["content"][0]["text"] for m in page["messages"]] == ["new question"]
    rest = requests.get(view, params={"cursor": page["next_cursor"]}, timeout=10).json()
    assert [m["content"][0]["text"] for m in rest["messages"]] == ["Hello world"]

    forged = reforged(page["next_cursor"], old_question)  # below it: the abandoned "Hello world" reply
    body = contract.validate_error(requests.get(view, params={"cursor": forged}, timeout=10), 400,
                                   "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == "cursor"
    assert first.message_id.split("~")[-1] not in json.dumps(body)

    other = expect(api.get(f"/sessions/{session_id}/shares"), 200).json()["shares"][0]["share_id"]
    foreign = reforged(page["next_cursor"], share_id=other)  # the same message, another share
    contract.validate_error(requests.get(view, params={"cursor": foreign}, timeout=10), 400, "INVALID_REQUEST")


def test_message_new_sent_through_a_share_names_the_sender(engine_process, api, backend, session_type):
    session_id = api.create_session(session_type, metadata={"plan": "pro"})
    api.send(session_id, "owner asks")
    owners = backend.events("message.new")[-1]
    token = expect(api.post(f"/sessions/{session_id}/share", json={}), 201).json()["share_token"]

    recipient = Api(engine_process.url, "recipient-erin")
    assert recipient.stream(f"/share/{token}/messages", {"content": "erin asks"}).types[-1] == "complete"
    shared = backend.events("message.new")[-1]
    assert shared["message"]["content"] == "erin asks"
    assert shared["session_metadata"] == {"plan": "pro",
                                          "chat_engine_sender": {"client_id": "recipient-erin", "via_share": True}}
    assert owners["session_metadata"] == {"plan": "pro"}  # the owner's own sends carry no sender
    for event in (owners, shared):  # the contract's event allows no extra top-level or message fields
        assert set(event) - {"_received_at"} == EVENT_FIELDS
        assert set(event["message"]) <= {"role", "content", "file_ids"}

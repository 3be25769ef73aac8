"""The anonymous share view shows only what was shared — the title and the messages."""
import json

from hardening.conftest import LocalApi


def share(owner, session_id):
    response = owner.post(f"/sessions/{session_id}/share", json={})
    assert response.status_code == 201
    return response.get_json()["share_token"]


def test_the_share_view_shows_the_title_and_messages_only(local, owner, local_session_type, db):
    secret_metadata = {"title": "Trip plan", "tags": ["private-tag"], "crm_id": "owner-secret-123"}
    session_id = owner.create_session(local_session_type, metadata=secret_metadata)
    # A summary is the engine's to write (clients may not): stored as the engine stores one.
    db.execute("UPDATE sessions SET metadata = metadata || '{\"summary\": {\"text\": \"owner-only summary\"}}' "
               "WHERE id = %s", (session_id[-36:],))
    owner.send(session_id, "where should we go")
    token = share(owner, session_id)
    recipient = LocalApi(local, "recipient-carol")
    recipient.stream(f"/share/{token}/messages", {"content": "carol's private question"})

    view = local.get(f"/api/v1/share/{token}")
    assert view.status_code == 200
    body = view.get_json()
    assert set(body) == {"session_id", "read_only", "title", "messages", "next_cursor"}
    assert body["title"] == "Trip plan" and body["read_only"] is True
    assert [m["content"][0]["text"] for m in body["messages"]] == ["where should we go", "Hello world"]
    text = json.dumps(body)
    for leaked in ("private-tag", "owner-only summary", "owner-secret-123", owner.client_id, "carol",
                   local_session_type):
        assert leaked not in text, leaked
    assert all(m["metadata"] == {} and m["my_reaction"] is None for m in body["messages"])

    # A recipient sees their own branch, never another recipient's, and no owner metadata either.
    dave_view = LocalApi(local, "recipient-dave").get(f"/share/{token}/messages").get_json()
    assert "carol" not in json.dumps(dave_view) and "owner-secret-123" not in json.dumps(dave_view)
    carol_view = recipient.get(f"/share/{token}/messages").get_json()
    assert [m["content"][0]["text"] for m in carol_view["messages"]][2:] == ["carol's private question",
                                                                            "Hello world"]
    assert "owner-secret-123" not in json.dumps(carol_view)


def test_a_session_without_a_title_shares_a_null_title(local, owner, local_session_type):
    session_id = owner.create_session(local_session_type, metadata={"title": {"not": "a string"}})
    assert local.get(f"/api/v1/share/{share(owner, session_id)}").get_json()["title"] is None

"""Share links (ADR-0019): read-only views, recipients' private branches, revocation, expiry."""
from datetime import UTC, datetime, timedelta

import requests

from support.engine import Api, expect


def shared_session(api, session_type, turns=2):
    session_id = api.create_session(session_type)
    for turn in range(turns):
        api.send(session_id, f"owner question {turn}")
    created = expect(api.post(f"/sessions/{session_id}/share", json={}), 201)
    return session_id, created.json()


def test_share_link_shows_the_owners_path_read_only_without_a_token(engine_process, api, session_type, db, contract):
    session_id, share = shared_session(api, session_type)
    contract.validate(share, "ShareCreated")
    token = share["share_token"]
    assert len(token) >= 32 and all(c.isalnum() or c in "-_" for c in token)
    assert share["share_url"].endswith(f"/api/v1/share/{token}")
    stored = db.execute("SELECT token_hash FROM share_tokens").fetchone()["token_hash"]
    assert token.encode() not in bytes(stored)  # only the hash is stored

    view = requests.get(f"{engine_process.url}/api/v1/share/{token}", timeout=10)
    assert view.status_code == 200
    body = contract.validate(view.json(), "SharedSession")
    assert body["read_only"] is True and body["session_id"] == session_id
    assert [m["message_id"] for m in body["messages"]] == [m["message_id"] for m in api.path(session_id)]


def test_recipients_branch_privately_and_never_move_the_owners_path(engine_process, api, backend, session_type,
                                                                    contract):
    session_id, share = shared_session(api, session_type)
    token = share["share_token"]
    owner_path = [m["message_id"] for m in api.path(session_id)]
    alice, bob = Api(engine_process.url, "recipient-alice"), Api(engine_process.url, "recipient-bob")

    first = alice.stream(f"/share/{token}/messages", {"content": "alice asks"})
    contract.validate_stream(first.events)
    assert first.types[-1] == "complete"
    history = backend.events("message.new")[-1]["history"]
    assert [h["message_id"] for h in history] == owner_path  # branches from the owner's last message
    alice.stream(f"/share/{token}/messages", {"content": "alice again"})
    bob.stream(f"/share/{token}/messages", {"content": "bob asks"})

    assert [m["message_id"] for m in api.path(session_id)] == owner_path
    alice_view = alice.get(f"/share/{token}/messages").json()["messages"]
    texts = [m["content"][0]["text"] for m in alice_view]
    assert texts[:4] == [m["content"][0]["text"] for m in api.path(session_id)]
    assert texts[4:] == ["alice asks", "Hello world", "alice again", "Hello world"]
    bob_view = [m["content"][0]["text"] for m in bob.get(f"/share/{token}/messages").json()["messages"]]
    assert "alice asks" not in bob_view and bob_view[4:] == ["bob asks", "Hello world"]
    assert "alice asks" not in str(requests.get(f"{engine_process.url}/api/v1/share/{token}", timeout=10).json())

    # The owner keeps chatting from their own last message, unaffected by recipients.
    api.send(session_id, "owner continues")
    assert [m["message_id"] for m in api.path(session_id)][:4] == owner_path
    assert api.path(session_id)[4]["content"][0]["text"] == "owner continues"
    assert api.get(f"/sessions/{session_id}/messages",
                   params={"parent_message_id": owner_path[-1]}).json()["messages"][0]["content"][0]["text"] \
        == "owner continues"


def test_revoked_token_is_dead_at_once_on_every_instance(engine_process, start_engine, api, session_type, contract):
    session_id, share = shared_session(api, session_type, turns=1)
    other = start_engine()
    token = share["share_token"]
    assert requests.get(f"{other.url}/api/v1/share/{token}", timeout=10).status_code == 200

    listed = contract.validate(api.get(f"/sessions/{session_id}/shares").json(), "ShareList")["shares"]
    assert [s["share_id"] for s in listed] == [share["share_id"]] and listed[0]["active"] is True
    assert "share_token" not in listed[0]
    assert api.call("DELETE", f"/sessions/{session_id}/shares/{share['share_id']}").json() == {"revoked": True}

    for url in (engine_process.url, other.url):
        contract.validate_error(requests.get(f"{url}/api/v1/share/{token}", timeout=10), 404, "INVALID_REQUEST")
    recipient = Api(other.url, "late-recipient")
    contract.validate_error(recipient.post(f"/share/{token}/messages", json={"content": "hi"}), 404,
                            "INVALID_REQUEST")
    assert api.get(f"/sessions/{session_id}/shares").json()["shares"][0]["active"] is False


def test_expired_and_unknown_tokens_are_404(engine_process, api, session_type, contract, db):
    session_id = api.create_session(session_type)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    share = api.post(f"/sessions/{session_id}/share", json={"expires_at": soon}).json()
    assert requests.get(f"{engine_process.url}/api/v1/share/{share['share_token']}", timeout=10).status_code == 200
    db.execute("UPDATE share_tokens SET expires_at = now() - interval '1 second'")
    contract.validate_error(requests.get(f"{engine_process.url}/api/v1/share/{share['share_token']}", timeout=10),
                            404, "INVALID_REQUEST")
    contract.validate_error(requests.get(f"{engine_process.url}/api/v1/share/not-a-real-token", timeout=10),
                            404, "INVALID_REQUEST")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contract.validate_error(api.post(f"/sessions/{session_id}/share", json={"expires_at": past}), 400,
                            "INVALID_REQUEST")
    contract.validate_error(api.as_client("x").post(f"/sessions/{session_id}/share", json={}), 404,
                            "SESSION_NOT_FOUND")


def test_sending_through_a_share_needs_a_token(engine_process, api, session_type, contract):
    _, share = shared_session(api, session_type, turns=1)
    response = requests.post(f"{engine_process.url}/api/v1/share/{share['share_token']}/messages",
                             json={"content": "x"},
                             timeout=10)
    contract.validate_error(response, 401, "AUTH_REQUIRED")

"""DELETE /api/v1/me/data: everything of the caller goes, with counts; nothing of anyone else does."""
from support.backends import json_answer
from support.engine import expect

EMPTY = {"sessions": 0, "messages": 0, "shares": 0, "exports": 0, "reactions": 0, "chunk_batches": 0,
         "idempotency_records": 0}


def rows_of(db, client_id):
    return db.execute("""
        SELECT (SELECT count(*) FROM sessions WHERE client_id = %(c)s) AS sessions,
               (SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id
                 WHERE s.client_id = %(c)s OR m.recipient_client_id = %(c)s) AS messages,
               (SELECT count(*) FROM reactions WHERE user_id = %(c)s) AS reactions,
               (SELECT count(*) FROM exports WHERE client_id = %(c)s) AS exports,
               (SELECT count(*) FROM idempotency_keys WHERE client_id = %(c)s) AS keys""", {"c": client_id}).fetchone()


def test_erasing_my_data_deletes_all_of_mine_tells_the_backends_and_leaves_others_whole(
        api, backend, session_type, db, contract):
    alice, bob, carol = api, api.as_client(api.client_id + "-bob"), api.as_client(api.client_id + "-carol")
    # Reaction notices are refused: they wait in the outbox, holding who reacted, until the erasure.
    backend.on("message.reaction", lambda e, env: json_answer({}, "503 Service Unavailable"))
    first = alice.create_session(session_type)
    reply = alice.send(first, "hello")
    sent = alice.call("POST", "/messages/send", stream=True, headers={"Idempotency-Key": "erase-me-1"},
                      json={"session_id": first, "content": "again"})
    assert sent.status_code == 200 and sent.content
    expect(alice.post(f"/messages/{reply.message_id}/reaction", json={"reaction_type": "like"}), 200)
    expect(alice.post(f"/sessions/{first}/share", json={}), 201)
    expect(alice.post(f"/sessions/{first}/export", json={"format": "json", "scope": "all"}), 200)
    second = alice.create_session(session_type)
    alice.send(second, "second session")

    # Bob's session, shared with alice and carol; both branch off his last reply, alice first.
    bobs = bob.create_session(session_type)
    bob.send(bobs, "bob's own")
    token = expect(bob.post(f"/sessions/{bobs}/share", json={}), 201).json()["share_token"]
    alice.stream(f"/share/{token}/messages", {"content": "alice as a recipient"})
    carol.stream(f"/share/{token}/messages", {"content": "carol as a recipient"})
    bob_before = [m["message_id"] for m in bob.path(bobs)]

    assert db.execute("SELECT count(*) AS n FROM webhook_notices WHERE event = 'message.reaction'").fetchone()["n"]
    response = expect(alice.call("DELETE", "/me/data"), 200).json()
    contract.validate(response, "Erased")
    counts = response["deleted"]
    assert counts["sessions"] == 2
    assert counts["messages"] == 4 + 2 + 2  # first: two turns; second: one; alice's branch in bob's: one
    assert counts["shares"] == 1 and counts["exports"] == 1 and counts["reactions"] == 1
    assert counts["idempotency_records"] == 1 and counts["chunk_batches"] >= 3

    assert rows_of(db, alice.client_id) == {"sessions": 0, "messages": 0, "reactions": 0, "exports": 0, "keys": 0}
    assert expect(alice.get("/sessions"), 200).json()["sessions"] == []
    assert db.execute("SELECT count(*) AS n FROM webhook_notices WHERE event = 'message.reaction'").fetchone()["n"] == 0
    deleted = {event["session_id"] for event in backend.wait_for("session.deleted", count=2)}
    assert deleted == {first, second}

    assert [m["message_id"] for m in bob.path(bobs)] == bob_before
    carols = expect(carol.get(f"/share/{token}/messages"), 200).json()["messages"]
    assert [m["content"][0]["text"] for m in carols if m["role"] == "user"][-1] == "carol as a recipient"
    assert all("alice" not in part.get("text", "") for m in carols for part in m["content"])

    again = expect(alice.call("DELETE", "/me/data"), 200).json()
    assert again == {"deleted": EMPTY}


def test_erasure_needs_a_caller(api):
    anonymous = api.as_client(api.client_id)
    anonymous.http.headers.pop("Authorization", None)
    assert anonymous.call("DELETE", "/me/data").status_code == 401

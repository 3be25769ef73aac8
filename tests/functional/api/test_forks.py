"""Fork (issue 24): continue a conversation as a new session, from a message of the path it was on."""
import requests

from app import ids
from support.engine import Api, expect


def conversation(api, session_type, turns=2):
    session_id = api.create_session(session_type, metadata={"title": "trip plans"})
    for turn in range(turns):
        api.send(session_id, f"question {turn}")
    return session_id, api.path(session_id)


def texts(path):
    return [(m["role"], m["content"][0]["text"]) for m in path]


def test_a_fork_copies_the_active_path_and_the_backend_continues_from_it(engine_process, api, backend,
                                                                           session_type, contract, db):
    source_id, source_path = conversation(api, session_type)
    announced = len(backend.events("session.created"))

    response = expect(api.post(f"/sessions/{source_id}/fork", json={}), 201)
    fork = contract.validate(response.json(), "Session")
    assert fork["session_id"] != source_id and fork["client_id"] == api.client_id
    assert fork["session_type_id"] == session_type and fork["metadata"]["title"] == "trip plans"
    assert fork["metadata"]["forked_from"] == {"session_id": source_id, "message_id": source_path[-1]["message_id"]}
    created = backend.events("session.created")
    assert len(created) == announced + 1 and created[-1]["session_id"] == fork["session_id"]

    copied = api.path(fork["session_id"])
    assert texts(copied) == texts(source_path)
    assert not {m["message_id"] for m in copied} & {m["message_id"] for m in source_path}  # new ids
    assert copied[0]["parent_message_id"] is None
    assert [m["parent_message_id"] for m in copied[1:]] == [m["message_id"] for m in copied[:-1]]

    api.send(fork["session_id"], "and in the fork?")
    history = backend.events("message.new")[-1]["history"]
    assert [h["message_id"] for h in history] == [m["message_id"] for m in copied]
    assert texts(api.path(source_id)) == texts(source_path)  # the source is untouched
    stored = db.execute("SELECT count(*) AS n FROM messages WHERE session_id = %s", (ids.parse_session_id(source_id),))
    assert stored.fetchone()["n"] == 4


def test_a_fork_at_an_earlier_message_leaves_the_rest_and_other_variants_behind(engine_process, api, session_type,
                                                                                 contract):
    source_id, path = conversation(api, session_type, turns=3)
    api.recreate(path[1]["message_id"])  # a second variant of the first reply, now the active one
    path = api.path(source_id)
    first_reply = path[1]["message_id"]

    fork = expect(api.post(f"/sessions/{source_id}/fork", json={"message_id": first_reply, "title": "branch"}),
                  201).json()
    copied = api.path(fork["session_id"])
    assert texts(copied) == texts(path[:2]) and fork["metadata"]["title"] == "branch"
    variants = api.get(f"/sessions/{fork['session_id']}/messages",
                       params={"parent_message_id": copied[0]["message_id"]}).json()["messages"]
    assert len(variants) == 1  # only the variant on the path was copied


def test_fork_refusals(engine_process, api, session_type, contract):
    source_id, path = conversation(api, session_type, turns=1)
    other_id, other_path = conversation(api, session_type, turns=1)
    contract.validate_error(api.post(f"/sessions/{source_id}/fork",
                                     json={"message_id": other_path[0]["message_id"]}), 404, "MESSAGE_NOT_FOUND")
    contract.validate_error(api.as_client("mallory").post(f"/sessions/{source_id}/fork", json={}), 404,
                            "SESSION_NOT_FOUND")
    contract.validate_error(api.post(f"/sessions/{source_id}/fork", json={"message_id": "not-an-id"}), 400,
                            "INVALID_REQUEST")
    contract.validate_error(api.post(f"/sessions/{source_id}/fork", json={"title": ""}), 400, "INVALID_REQUEST")
    contract.validate_error(api.post(f"/sessions/{source_id}/fork", json={"surprise": 1}), 400, "INVALID_REQUEST")
    contract.validate_error(requests.post(f"{engine_process.url}/api/v1/sessions/{source_id}/fork", json={},
                                          timeout=10), 401, "AUTH_REQUIRED")
    empty = api.create_session(session_type)
    forked = expect(api.post(f"/sessions/{empty}/fork"), 201).json()  # no body: the defaults
    assert api.path(forked["session_id"]) == [] and forked["metadata"]["forked_from"]["message_id"] is None


def test_a_share_recipient_forks_what_the_share_shows_them_without_the_owners_hidden_messages(
        engine_process, api, session_type, contract, db):
    source_id = api.create_session(session_type)
    expect(api.post(f"/sessions/{source_id}/messages", json={"role": "system", "content": "secret prompt",
                                                             "hidden_from_user": True}), 201)
    api.send(source_id, "owner asks")
    replaced = api.path(source_id)[-1]["message_id"]
    api.recreate(replaced)  # the owner's first reply is now off the owner's active path
    owner_reply = api.path(source_id)[-1]["message_id"]
    db.execute("UPDATE messages SET metadata = metadata || '{\"private\": \"owner only\"}' WHERE id = %s",
               (ids.parse_message_id(owner_reply),))
    token = expect(api.post(f"/sessions/{source_id}/share", json={}), 201).json()["share_token"]
    bob = Api(engine_process.url, "bob")
    bob.stream(f"/share/{token}/messages", {"content": "bob asks"})

    fork = contract.validate(expect(bob.post(f"/share/{token}/fork", json={}), 201).json(), "Session")
    assert fork["client_id"] == "bob"
    assert texts(bob.path(fork["session_id"])) == [("user", "owner asks"), ("assistant", "Hello world"),
                                                   ("user", "bob asks"), ("assistant", "Hello world")]
    contract.validate_error(api.get(f"/sessions/{fork['session_id']}"), 404, "SESSION_NOT_FOUND")
    stored = db.execute("SELECT count(*) AS n FROM messages WHERE session_id = %s",
                        (ids.parse_session_id(fork["session_id"]),)).fetchone()
    assert stored["n"] == 4  # the owner's hidden system prompt stayed behind
    copies = db.execute("SELECT metadata FROM messages WHERE session_id = %s AND role = 'assistant' "
                        "ORDER BY created_at", (ids.parse_session_id(fork["session_id"]),)).fetchall()
    assert "private" not in copies[0]["metadata"] and "session_type_id" not in copies[0]["metadata"]
    assert copies[1]["metadata"].get("session_type_id")  # bob's own reply keeps its metadata
    contract.validate_error(bob.post(f"/share/{token}/fork", json={"message_id": replaced}), 404,
                            "MESSAGE_NOT_FOUND")  # a variant the share does not show

    owner_only = api.path(source_id)[-1]["message_id"]  # on bob's view too: the owner's path
    at_owner = expect(bob.post(f"/share/{token}/fork", json={"message_id": owner_only}), 201).json()
    assert texts(bob.path(at_owner["session_id"])) == [("user", "owner asks"), ("assistant", "Hello world")]
    carol_branch = Api(engine_process.url, "carol")
    carol_branch.stream(f"/share/{token}/messages", {"content": "carol asks"})
    carols = carol_branch.get(f"/share/{token}/messages").json()["messages"][-1]["message_id"]
    contract.validate_error(bob.post(f"/share/{token}/fork", json={"message_id": carols}), 404,
                            "MESSAGE_NOT_FOUND")  # not on what bob sees
    contract.validate_error(bob.post("/share/not-a-live-token/fork", json={}), 404, "INVALID_REQUEST")


def test_a_fork_refused_after_its_backend_was_told_tells_the_backend_the_session_is_gone(
        engine_process, api, backend, session_type, contract, db):
    """The share is revoked while the backend answers session.created: the copy is refused under the lock,
    and the backend hears session.deleted for the session it was told about."""
    source_id = api.create_session(session_type)
    api.send(source_id, "owner asks")
    share = expect(api.post(f"/sessions/{source_id}/share", json={}), 201).json()

    def revoke_meanwhile(event, environ):
        expect(api.call("DELETE", f"/sessions/{source_id}/shares/{share['share_id']}"), 200)
        return backend._default(event)
    backend.on("session.created", revoke_meanwhile)

    refused = Api(engine_process.url, "bob").post(f"/share/{share['share_token']}/fork", json={})
    contract.validate_error(refused, 404, "INVALID_REQUEST")
    told = backend.events("session.created")[-1]["session_id"]
    backend.wait_for("session.deleted")
    assert backend.events("session.deleted")[-1]["session_id"] == told
    assert db.execute("SELECT count(*) AS n FROM sessions WHERE id = %s",
                      (ids.parse_session_id(told),)).fetchone()["n"] == 0

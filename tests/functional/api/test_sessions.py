"""Sessions: create (backend announces capabilities), read, delete."""
import uuid

from support.backends import CAPABILITIES, json_answer


def test_create_session_asks_backend_and_stores_capabilities(api, backend, session_type, contract):
    response = api.post("/sessions", json={"session_type_id": session_type, "client_id": api.client_id})
    assert response.status_code == 201
    body = contract.validate(response.json(), "SessionCreateResponse")
    assert body["available_capabilities"] == CAPABILITIES

    (event,) = backend.events("session.created")
    assert event["session_id"] == body["session_id"]
    assert event["client_id"] == api.client_id
    assert event["session_type_id"] == session_type

    session = contract.validate(api.get(f"/sessions/{body['session_id']}").json(), "Session")
    assert session["client_id"] == api.client_id
    assert session["available_capabilities"] == CAPABILITIES
    assert session["session_type_id"] == session_type


def test_create_session_with_initial_metadata(api, session_type):
    session_id = api.create_session(session_type, metadata={"title": "Trip planning", "tags": ["travel"]})
    assert api.get(f"/sessions/{session_id}").json()["metadata"] == {"title": "Trip planning", "tags": ["travel"]}


def test_create_session_with_unknown_type_is_400(api, contract):
    response = api.post("/sessions", json={"session_type_id": "gts.hyperspot.chat_engine.session_types.nope.v1~"})
    contract.validate_error(response, 400, "INVALID_REQUEST")


def test_create_session_when_backend_fails_is_502_and_stores_nothing(api, backend, session_type, contract, db):
    backend.on("session.created", lambda e, env: json_answer({"oops": True}, "500 Internal Server Error"))
    response = api.post("/sessions", json={"session_type_id": session_type})
    contract.validate_error(response, 502, "BACKEND_ERROR")
    assert db.execute("SELECT count(*) AS n FROM sessions").fetchone()["n"] == 0


def test_create_session_with_malformed_capabilities_is_502(api, backend, session_type, contract):
    backend.on("session.created", lambda e, env: json_answer({"available_capabilities": "all of them"}))
    contract.validate_error(api.post("/sessions", json={"session_type_id": session_type}), 502, "BACKEND_ERROR")


def test_get_session_of_another_client_is_404_like_a_missing_one(api, session_type, contract):
    session_id = api.create_session(session_type)
    other = api.as_client("someone-else")
    foreign = contract.validate_error(other.get(f"/sessions/{session_id}"), 404, "SESSION_NOT_FOUND")
    missing_id = f"gts.hyperspot.chat_engine.entities.session.v1~{uuid.uuid4()}"
    missing = contract.validate_error(other.get(f"/sessions/{missing_id}"), 404, "SESSION_NOT_FOUND")
    assert foreign["message"] == missing["message"]
    contract.validate_error(other.call("DELETE", f"/sessions/{session_id}"), 404, "SESSION_NOT_FOUND")
    assert api.get(f"/sessions/{session_id}").status_code == 200


def test_delete_session_removes_everything_and_notifies_backend(api, backend, session_type, db):
    session_id = api.create_session(session_type)
    assert api.send(session_id, "hello").types[-1] == "complete"

    response = api.call("DELETE", f"/sessions/{session_id}")
    assert response.status_code == 200 and response.json() == {"deleted": True}
    assert api.get(f"/sessions/{session_id}").status_code == 404
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0
    (event,) = backend.wait_for("session.deleted")
    assert event["session_id"] == session_id


def test_delete_session_answers_even_when_backend_is_down(api, make_session_type, backend):
    session_type = make_session_type(backend)
    session_id = api.create_session(session_type)
    backend.stop()  # the fire-and-forget notice fails; the client must not notice
    assert api.call("DELETE", f"/sessions/{session_id}").status_code == 200
    assert api.get(f"/sessions/{session_id}").status_code == 404


def test_session_created_is_retried_until_the_backend_answers(api, backend, session_type):
    attempts = []

    def flaky(event, environ):
        attempts.append(event)
        if len(attempts) < 3:
            return json_answer({"error": "warming up"}, "503 Service Unavailable")
        return json_answer({"available_capabilities": CAPABILITIES})
    backend.on("session.created", flaky)
    session_id = api.create_session(session_type)
    assert len(attempts) == 3
    assert {a["session_id"] for a in attempts} == {session_id}  # the same session, retried

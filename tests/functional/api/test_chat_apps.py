"""What chat apps build on, end to end through HTTP with real backends on loopback: editing
any user message, posted and hidden messages, deleting a subtree, the session-type catalogue, CORS,
rich content kept whole, files by declaration, search hits that know their place in the tree.
The tree invariants are checked after every test (tests/conftest.py)."""
import json

import gevent
import pytest
import requests

from support.backends import (
    CAPABILITIES,
    chunk,
    complete,
    json_answer,
    ndjson,
    numbered_replies,
    stream_answer,
)
from support.engine import Api, EngineProcess, close_clients, expect

FILE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def texts(messages):
    return [" ".join(p.get("text") or p.get("code") or "" for p in m["content"]) for m in messages]


def history_texts(event):
    return [" ".join(p.get("text", "") for p in h["content"]) for h in event["history"]]


def post(api, session_id, role, content, status=201, **extra):
    response = api.post(f"/sessions/{session_id}/messages", json={"role": role, "content": content, **extra})
    return expect(response, status).json()


# -- 1. edit any user message, the first included ------------------------------------------------


def test_editing_the_first_message_makes_a_new_root_variant_with_empty_history(api, backend, session_type,
                                                                                 contract):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    first = api.send(session_id, "first question")
    api.send(session_id, "second question")

    edited = api.send(session_id, "first question, reworded", edited_message_id=first.user_message_id)
    contract.validate_stream(edited.events)
    assert edited.text == "reply 3"
    assert backend.events("message.new")[-1]["history"] == []  # the first message has no history above it

    path = api.path(session_id)
    assert texts(path) == ["first question, reworded", "reply 3"]
    root = contract.validate(path[0], "Message")
    assert root["parent_message_id"] is None
    assert root["variant_info"]["variant_index"] == 1 and root["variant_info"]["total_variants"] == 2
    variants = expect(api.get(f"/messages/{root['message_id']}/variants"), 200).json()
    assert [v["message_id"] for v in variants["variants"]] == [first.user_message_id, edited.user_message_id]
    assert variants["current_index"] == 1

    # The old branch is intact and can be switched back to.
    expect(api.post(f"/messages/{first.user_message_id}/activate"), 200)
    assert texts(api.path(session_id)) == ["first question", "reply 1", "second question", "reply 2"]


def test_editing_a_later_message_sends_the_history_up_to_its_parent(api, backend, session_type):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "one")
    second = api.send(session_id, "two")
    api.send(session_id, "three")

    api.send(session_id, "two, edited", edited_message_id=second.user_message_id)
    assert history_texts(backend.events("message.new")[-1]) == ["one", "reply 1"]
    assert texts(api.path(session_id)) == ["one", "reply 1", "two, edited", "reply 4"]


def test_only_visible_user_messages_of_the_session_can_be_edited(api, backend, session_type, contract):
    session_id = api.create_session(session_type)
    first = api.send(session_id, "hello")
    response = api.post("/messages/send", json={"session_id": session_id, "content": "x",
                                                "edited_message_id": first.message_id})
    contract.validate_error(response, 400, "INVALID_REQUEST")  # an assistant message: recreate it instead

    response = api.post("/messages/send", json={"session_id": session_id, "content": "x",
                                                "edited_message_id": first.user_message_id,
                                                "parent_message_id": first.message_id})
    contract.validate_error(response, 400, "INVALID_REQUEST")

    other = api.create_session(session_type)
    response = api.post("/messages/send", json={"session_id": other, "content": "x",
                                                "edited_message_id": first.user_message_id})
    contract.validate_error(response, 404, "MESSAGE_NOT_FOUND")
    assert api.path(other) == []


# -- 2. posted messages: system prompts, notes, imports --------------------------------------------


def test_hidden_system_prompt_reaches_the_backend_but_not_the_client(api, backend, session_type, contract):
    session_id = api.create_session(session_type)
    prompt = post(api, session_id, "system", "You are a pirate.", hidden_from_user=True)
    contract.validate(prompt, "Message")
    assert prompt["role"] == "system" and prompt["hidden_from_user"] is True
    assert not backend.events("message.new")  # posting never calls the backend

    api.send(session_id, "hello")
    assert history_texts(backend.events("message.new")[0]) == ["You are a pirate."]
    listed = api.path(session_id)
    assert texts(listed) == ["hello", "Hello world"]
    assert listed[0]["parent_message_id"] == prompt["message_id"]
    expect(api.get(f"/messages/{prompt['message_id']}"), 404)
    hits = expect(api.get(f"/sessions/{session_id}/search", params={"query": "pirate"}), 200).json()
    assert hits["total"] == 0


def test_note_hidden_from_the_backend_is_listed_but_never_sent(api, backend, session_type):
    session_id = api.create_session(session_type)
    api.send(session_id, "question")
    note = post(api, session_id, "user", "private note to self", hidden_from_backend=True)
    assert note["hidden_from_backend"] is True
    api.send(session_id, "follow-up")

    assert texts(api.path(session_id)) == ["question", "Hello world", "private note to self", "follow-up",
                                           "Hello world"]
    assert "private note" not in json.dumps(backend.events("message.new")[-1]["history"])


def test_importing_a_conversation_with_rich_parts_and_an_explicit_parent(api, backend, session_type, contract):
    session_id = api.create_session(session_type)
    question = post(api, session_id, "user", [{"type": "text", "text": "Show me Python"}],
                    metadata={"imported_from": "elsewhere"})
    answer = post(api, session_id, "assistant", [
        {"type": "code", "code": "print('hi')", "language": "python"},
        {"type": "document", "document_id": FILE, "mime_type": "application/pdf", "filename": "notes.pdf"}])
    assert answer["parent_message_id"] == question["message_id"]
    assert question["metadata"] == {"imported_from": "elsewhere"}

    # A second answer under the same question: the new active variant.
    other = post(api, session_id, "assistant", "Or use Ruby.", parent_message_id=question["message_id"])
    assert other["variant_index"] == 1 and other["is_active"] is True
    path = api.path(session_id)
    assert [m["message_id"] for m in path] == [question["message_id"], other["message_id"]]
    for message in path:
        contract.validate(message, "Message")

    expect(api.post(f"/messages/{answer['message_id']}/activate"), 200)
    api.send(session_id, "thanks")
    history = backend.events("message.new")[0]["history"]
    assert history[1]["content"][0] == {"type": "code", "code": "print('hi')", "language": "python"}
    assert history[1]["content"][1]["filename"] == "notes.pdf"


@pytest.mark.parametrize("body, field", [
    ({"role": "robot", "content": "x"}, "role"),
    ({"role": "user", "content": ""}, "content"),
    ({"role": "user", "content": [{"type": "code", "code": "x", "colour": "red"}]}, "content.0"),
    ({"role": "user", "content": [{"type": "image", "image_id": "not-a-uuid"}]}, "content.0"),
    ({"role": "user", "content": "x", "hidden_from_user": "maybe"}, "hidden_from_user"),
])
def test_malformed_posts_are_400_and_store_nothing(api, session_type, contract, body, field, db):
    session_id = api.create_session(session_type)
    response = api.post(f"/sessions/{session_id}/messages", json=body)
    error = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert field in [e["field"] for e in error["details"]["validation_errors"]]
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


def test_posting_to_someone_elses_session_or_under_a_foreign_parent_is_404(api, session_type, contract):
    session_id = api.create_session(session_type)
    contract.validate_error(api.as_client("intruder").post(
        f"/sessions/{session_id}/messages", json={"role": "user", "content": "x"}), 404, "SESSION_NOT_FOUND")
    other = api.create_session(session_type)
    foreign = post(api, other, "user", "elsewhere")
    contract.validate_error(api.post(f"/sessions/{session_id}/messages", json={
        "role": "user", "content": "x", "parent_message_id": foreign["message_id"]}), 404, "MESSAGE_NOT_FOUND")


# -- 3. delete a message and its subtree -------------------------------------------------------------


def test_deleting_an_active_variant_activates_the_nearest_sibling_and_renumbers(api, backend, session_type, db):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    first = api.send(session_id, "question")
    second = api.recreate(first.message_id)
    third = api.recreate(first.message_id)
    api.send(session_id, "below the third")  # under the third reply, the active one
    expect(api.post(f"/messages/{second.message_id}/activate"), 200)
    below = api.send(session_id, "below the second reply")

    response = expect(api.call("DELETE", f"/messages/{second.message_id}"), 200).json()
    assert response["deleted"] is True
    assert set(response["deleted_message_ids"]) == {second.message_id, below.user_message_id, below.message_id}
    assert response["activated_message_id"] == first.message_id  # the one before it first

    assert texts(api.path(session_id)) == ["question", "reply 1"]
    variants = expect(api.get(f"/messages/{first.message_id}/variants"), 200).json()
    assert [(v["message_id"], v["variant_index"]) for v in variants["variants"]] == [
        (first.message_id, 0), (third.message_id, 1)]
    expect(api.get(f"/messages/{second.message_id}"), 404)
    assert db.execute("SELECT count(*) AS n FROM messages WHERE content::text LIKE %s",
                      ("%below the second reply%",)).fetchone()["n"] == 0


def test_deleting_the_first_of_two_root_variants_keeps_the_other(api, backend, session_type):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    first = api.send(session_id, "original")
    edited = api.send(session_id, "edited", edited_message_id=first.user_message_id)
    expect(api.post(f"/messages/{first.user_message_id}/activate"), 200)

    body = expect(api.call("DELETE", f"/messages/{first.user_message_id}"), 200).json()
    assert body["activated_message_id"] == edited.user_message_id  # no sibling before: the next one
    path = api.path(session_id)
    assert texts(path) == ["edited", "reply 2"]
    assert path[0]["variant_index"] == 0


def test_deleting_the_last_message_ends_the_path_at_its_parent_and_removes_it_everywhere(
        api, backend, session_type, engine_process):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "keep this")
    doomed = api.send(session_id, "forget zebra")
    share = expect(api.post(f"/sessions/{session_id}/share"), 201).json()
    export = expect(api.post(f"/sessions/{session_id}/export", json={"format": "txt", "scope": "all"}), 200).json()
    assert "zebra" in requests.get(export["download_url"], timeout=10).text

    expect(api.call("DELETE", f"/messages/{doomed.user_message_id}"), 200)
    assert texts(api.path(session_id)) == ["keep this", "reply 1"]
    assert expect(api.get(f"/sessions/{session_id}/search", params={"query": "zebra"}), 200).json()["total"] == 0
    assert expect(api.get("/search", params={"query": "zebra"}), 200).json()["total"] == 0
    shared = requests.get(f"{engine_process.url}/api/v1/share/{share['share_token']}", timeout=10).json()
    assert "zebra" not in json.dumps(shared) and len(shared["messages"]) == 2
    # A stored export was a snapshot holding the deleted text: it is withdrawn.
    assert requests.get(export["download_url"], timeout=10).status_code == 404
    fresh = expect(api.post(f"/sessions/{session_id}/export", json={"format": "json", "scope": "all"}), 200).json()
    assert "zebra" not in requests.get(fresh["download_url"], timeout=10).text

    api.send(session_id, "continue")
    assert history_texts(backend.events("message.new")[-1]) == ["keep this", "reply 1"]


def test_deleting_removes_share_recipients_branches_below_it(api, backend, session_type, engine_process):
    session_id = api.create_session(session_type)
    first = api.send(session_id, "owner question")
    share = expect(api.post(f"/sessions/{session_id}/share"), 201).json()
    recipient = api.as_client("recipient")
    recipient.stream(f"/share/{share['share_token']}/messages", {"content": "recipient question"})

    expect(api.call("DELETE", f"/messages/{first.message_id}"), 200)
    view = expect(recipient.get(f"/share/{share['share_token']}/messages"), 200).json()
    assert texts(view["messages"]) == ["owner question"]


def test_deleting_someone_elses_or_a_missing_message_is_404(api, session_type, contract):
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "mine")
    contract.validate_error(api.as_client("intruder").call("DELETE", f"/messages/{sent.message_id}"), 404,
                            "MESSAGE_NOT_FOUND")
    expect(api.call("DELETE", f"/messages/{sent.message_id}"), 200)
    contract.validate_error(api.call("DELETE", f"/messages/{sent.message_id}"), 404, "MESSAGE_NOT_FOUND")
    assert texts(api.path(session_id)) == ["mine"]


# -- 4. the session-type catalogue -------------------------------------------------------------------


def test_any_client_lists_session_types_without_urls_or_settings(api, make_session_type, backend, contract):
    type_id = make_session_type(backend, description="A helpful bot", summarization_enabled=True,
                                summarization_url="http://127.0.0.1:1/secret-summarizer",
                                summarization_settings={"api_key": "hunter2"})
    response = expect(api.get("/session-types"), 200)
    body = contract.validate(response.json(), "SessionTypeCatalogue")
    entry = next(t for t in body["session_types"] if t["session_type_id"] == type_id)
    assert entry == {"session_type_id": type_id, "name": entry["name"], "description": "A helpful bot",
                     "summarization_enabled": True, "accepts_files": None}
    assert backend.url not in response.text and "secret-summarizer" not in response.text
    assert "hunter2" not in response.text
    assert requests.get(api.base + "/api/v1/session-types", timeout=10).status_code == 401


# -- 5. CORS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cors_engine(database_url):
    server = EngineProcess(database_url, CORS_ALLOWED_ORIGINS="https://app.example, http://127.0.0.1:3000")
    yield server
    close_clients(server.url)
    server.stop()


def test_preflight_is_answered_without_a_token_for_listed_origins(cors_engine):
    response = requests.options(cors_engine.url + "/api/v1/messages/send", timeout=10, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()

    refused = requests.options(cors_engine.url + "/api/v1/messages/send", timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_streamed_replies_expose_the_message_id_headers_to_listed_origins(cors_engine, backend):
    admin = Api(cors_engine.url, client_id="operator", admin=True)
    type_id = expect(admin.post("/admin/session-types", json={"name": "cors_bot", "webhook_url": backend.url}),
                     201).json()["session_type_id"]
    client = Api(cors_engine.url, client_id="browser")
    client.http.headers["Origin"] = "http://127.0.0.1:3000"
    session_id = client.create_session(type_id)
    result = client.send(session_id, "hi")
    assert result.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
    exposed = {h.strip() for h in result.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-User-Message-Id", "X-Assistant-Message-Id", "Retry-After"} <= exposed
    assert "Origin" in result.headers["Vary"]
    # Errors are readable by the browser too.
    failed = requests.get(cors_engine.url + "/api/v1/sessions", timeout=10, headers={"Origin": "http://127.0.0.1:3000"})
    assert failed.status_code == 401 and failed.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"

    client.http.headers["Origin"] = "https://evil.example"
    response = client.get(f"/sessions/{session_id}")
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


def test_without_the_setting_there_are_no_cors_headers(engine_process, api):
    response = api.get("/sessions", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = requests.options(engine_process.url + "/api/v1/sessions", timeout=10, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


# -- 6. rich content kept whole -------------------------------------------------------------------------


def test_json_reply_keeps_every_field_of_its_parts(api, backend, session_type, contract):
    parts = [{"type": "text", "text": "Here:"},
             {"type": "code", "code": "fn main() {}", "language": "rust"},
             {"type": "code", "code": "SELECT 1", "language": "sql"},
             {"type": "image", "image_id": FILE, "mime_type": "image/png"},
             {"type": "audio", "audio_id": FILE, "mime_type": "audio/ogg", "duration_seconds": 2.5},
             {"type": "document", "document_id": FILE, "mime_type": "application/pdf", "filename": "spec.pdf"}]
    backend.on("message.new", lambda e, env: json_answer({"message_id": e["message_id"], "role": "assistant",
                                                          "content": parts}))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "show me")
    contract.validate_stream(result.events)
    chunks = [e["chunk"] for e in result.events if e["type"] == "chunk"]
    assert chunks[1] == {"type": "code", "content": "fn main() {}", "language": "rust"}
    assert chunks[5] == {"type": "document", "content": FILE, "mime_type": "application/pdf", "filename": "spec.pdf"}
    stored = contract.validate(api.path(session_id)[1], "Message")
    assert stored["content"] == parts  # two adjacent code blocks stay two


def test_streamed_code_chunks_keep_their_language_and_are_searchable(api, backend, session_type, contract):
    backend.on("message.new", lambda e, env: stream_answer(iter([ndjson(
        chunk("Try:"), {"type": "chunk", "chunk": {"type": "code", "content": "def fibonacci(n):",
                                                   "language": "python"}},
        chunk("\n    return n", "code"),
        {"type": "chunk", "chunk": {"type": "code", "content": "echo hi", "language": "bash"}},
        {"type": "chunk", "chunk": {"type": "image", "content": FILE, "mime_type": "image/webp",
                                    "unknown_field": "dropped"}},
        complete())])))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "code")
    contract.validate_stream(result.events)
    assert result.events[2]["chunk"]["language"] == "python"
    assert "unknown_field" not in result.events[5]["chunk"]
    assert api.path(session_id)[1]["content"] == [
        {"type": "text", "text": "Try:"},
        {"type": "code", "code": "def fibonacci(n):\n    return n", "language": "python"},
        {"type": "code", "code": "echo hi", "language": "bash"},
        {"type": "image", "image_id": FILE, "mime_type": "image/webp"}]

    hits = expect(api.get(f"/sessions/{session_id}/search", params={"query": "fibonacci"}), 200).json()
    assert hits["total"] == 1 and "fibonacci" in hits["results"][0]["content"]
    assert "<mark>fibonacci</mark>" in hits["results"][0]["context"]


# -- 7. files by declaration -----------------------------------------------------------------------------


def test_files_are_accepted_by_the_declared_capability_id_only(api, backend, make_session_type, contract):
    backend.on("session.created", lambda e, env: json_answer({"available_capabilities": [
        {"id": "vision_and_documents", "name": "Looks like files", "enabled_by_default": True}]}))
    guessed = api.create_session(make_session_type(backend))
    assert expect(api.get(f"/sessions/{guessed}"), 200).json()["accepts_files"] is False
    response = api.post("/messages/send", json={"session_id": guessed, "content": "x", "file_ids": [FILE]})
    error = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert error["details"]["validation_errors"][0]["code"] == "files_not_allowed"

    backend.on("session.created", lambda e, env: json_answer({"available_capabilities": CAPABILITIES}))
    created = expect(api.post("/sessions", json={"session_type_id": make_session_type(backend)}), 201).json()
    assert created["accepts_files"] is True
    assert api.send(created["session_id"], "see file", file_ids=[FILE]).types[-1] == "complete"


def test_the_session_type_setting_overrides_the_backend(api, admin, backend, make_session_type, contract):
    type_id = make_session_type(backend, accepts_files=False)  # the backend declares file_attachments
    session_id = api.create_session(type_id)
    assert expect(api.get(f"/sessions/{session_id}"), 200).json()["accepts_files"] is False
    response = api.post("/messages/send", json={"session_id": session_id, "content": "x", "file_ids": [FILE]})
    contract.validate_error(response, 400, "INVALID_REQUEST")

    backend.on("session.created", lambda e, env: json_answer({"available_capabilities": []}))
    other_type = make_session_type(backend)
    expect(admin.call("PATCH", f"/admin/session-types/{other_type}", json={"accepts_files": True}), 200)
    other = api.create_session(other_type)
    assert api.send(other, "x", file_ids=[FILE]).types[-1] == "complete"
    listed = expect(api.get("/session-types"), 200).json()["session_types"]
    assert {t["session_type_id"]: t["accepts_files"] for t in listed}[other_type] is True


# -- 8. search hits know their place in the tree ------------------------------------------------------------


def test_search_hits_carry_their_variant_path_and_whether_they_are_active(api, backend, session_type, contract):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    first = api.send(session_id, "walrus one")
    api.send(session_id, "walrus two")
    api.send(session_id, "walrus edited", edited_message_id=first.user_message_id)

    body = expect(api.get(f"/sessions/{session_id}/search", params={"query": "walrus"}), 200).json()
    contract.validate(body, "SearchResults")
    places = {r["content"]: (r["variant_path"], r["on_active_path"]) for r in body["results"]}
    assert places == {"walrus one": ([0], False), "walrus two": ([0, 0, 0], False), "walrus edited": ([1], True)}

    expect(api.post(f"/messages/{first.user_message_id}/activate"), 200)
    across = expect(api.get("/search", params={"query": "walrus two"}), 200).json()
    contract.validate(across, "SessionSearchResults")
    hit = across["results"][0]["matched_messages"][0]
    assert (hit["variant_path"], hit["on_active_path"]) == ([0, 0, 0], True)


def test_concurrent_deletes_of_siblings_keep_the_indexes_gap_free(api, backend, session_type):
    session_id = api.create_session(session_type)
    first = api.send(session_id, "question")
    variants = [first.message_id] + [api.recreate(first.message_id).message_id for _ in range(4)]
    clients = [api.as_client(api.client_id) for _ in range(3)]
    jobs = [gevent.spawn(client.call, "DELETE", f"/messages/{message_id}")
            for client, message_id in zip(clients, variants[1:4], strict=True)]
    gevent.joinall(jobs, raise_error=True)
    assert [job.value.status_code for job in jobs] == [200, 200, 200]

    listed = expect(api.get(f"/messages/{first.message_id}/variants"), 200).json()
    assert [(v["message_id"], v["variant_index"]) for v in listed["variants"]] == [
        (variants[0], 0), (variants[4], 1)]
    assert sum(v["is_active"] for v in listed["variants"]) == 1

"""Sending a message: user message committed, backend called with history, chunks relayed as they
arrive, assistant message committed before `complete`."""
import json
import threading

import psycopg

from support.backends import chunk, complete, gate, json_answer, ndjson, stream_answer, words_answer
from support.engine import read_ndjson
from support.waiting import wait_until


def test_create_send_list(api, session_type, contract):
    session_id = api.create_session(session_type)
    result = api.send(session_id, "Hi there")
    assert result.status == 200
    assert result.headers["Content-Type"].startswith("application/x-ndjson")
    contract.validate_stream(result.events)
    assert result.types == ["start", "chunk", "chunk", "complete"]
    assert result.text == "Hello world"
    assert result.events[-1]["metadata"]["usage"]["total_tokens"] == 3
    assert {e["message_id"] for e in result.events} == {result.message_id}

    messages = api.path(session_id)
    for message in messages:
        contract.validate(message, "Message")
    user, assistant = messages
    assert user["message_id"] == result.user_message_id
    assert user["role"] == "user" and user["content"] == [{"type": "text", "text": "Hi there"}]
    assert user["parent_message_id"] is None
    assert assistant["message_id"] == result.message_id
    assert assistant["parent_message_id"] == user["message_id"]
    assert assistant["content"] == [{"type": "text", "text": "Hello world"}]
    assert assistant["is_complete"] is True and assistant["is_active"] is True
    assert assistant["metadata"]["usage"] == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}

    single = contract.validate(api.get(f"/messages/{result.message_id}").json(), "Message")
    assert single["variant_info"] == {"variant_index": 0, "total_variants": 1,
                                      "parent_message_id": user["message_id"].split("~")[1]}


def test_backend_receives_message_new_with_history_of_the_active_path(api, backend, session_type):
    session_id = api.create_session(session_type)
    first = api.send(session_id, "first question")
    api.send(session_id, "second question")

    first_event, second_event = backend.events("message.new")
    assert first_event["history"] == []
    assert first_event["message"] == {"role": "user", "content": "first question"}
    assert first_event["session_id"] == session_id
    assert first_event["message_id"] == first.message_id  # the assistant message being generated
    assert [c["id"] for c in first_event["enabled_capabilities"]] == ["web_search"]  # enabled_by_default

    history = second_event["history"]
    assert [(h["role"], h["content"]) for h in history] == [
        ("user", [{"type": "text", "text": "first question"}]),
        ("assistant", [{"type": "text", "text": "Hello world"}])]
    assert history[1]["message_id"] == first.message_id
    assert history[1]["parent_message_id"] == history[0]["message_id"]


def test_first_chunk_reaches_client_while_backend_is_still_sending(api, backend, session_type):
    release = gate()
    backend.on("message.new", lambda e, env: words_answer(["one", " two", " three"], gate=release, after=1))
    session_id = api.create_session(session_type)

    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "go"})
    events = read_ndjson(response)
    assert next(events)["type"] == "start"
    first = next(events)
    assert first["chunk"]["content"] == "one"
    assert not release.is_set()  # the backend is still blocked before its second chunk
    release.set()
    rest = list(events)
    assert [e["type"] for e in rest] == ["chunk", "chunk", "complete"]


def test_complete_is_sent_only_after_the_reply_is_committed(api, session_type, db):
    session_id = api.create_session(session_type)
    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "go"})
    for event in read_ndjson(response):
        if event["type"] == "complete":
            row = db.execute("SELECT is_complete, content FROM messages WHERE role = 'assistant'").fetchone()
            assert row == {"is_complete": True, "content": [{"type": "text", "text": "Hello world"}]}
            break
    else:
        raise AssertionError("no complete event")


def test_single_json_backend_answer_is_relayed_as_a_chunk(api, backend, session_type):
    backend.on("message.new", lambda e, env: json_answer({
        "message_id": e["message_id"], "role": "assistant",
        "content": [{"type": "text", "text": "All at once"}], "metadata": {"usage": {
            "input_tokens": 4, "output_tokens": 3, "total_tokens": 7}}}))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "hi")
    assert result.types == ["start", "chunk", "complete"]
    assert result.text == "All at once"
    assert result.events[-1]["metadata"]["usage"]["total_tokens"] == 7
    assert api.path(session_id)[1]["content"] == [{"type": "text", "text": "All at once"}]


def test_code_chunks_are_stored_as_code_parts(api, backend, session_type):
    backend.on("message.new", lambda e, env: stream_answer(iter([ndjson(
        chunk("Look:"), chunk("print(1)", "code"), chunk("\nprint(2)", "code"), complete())])))
    session_id = api.create_session(session_type)
    api.send(session_id, "code please")
    assert api.path(session_id)[1]["content"] == [{"type": "text", "text": "Look:"},
                                                  {"type": "code", "code": "print(1)\nprint(2)"}]


def test_backend_error_event_keeps_partial_reply_and_reports_error(api, backend, session_type, contract):
    backend.on("message.new", lambda e, env: stream_answer(iter([ndjson(
        chunk("Partial"), {"type": "error", "message": "model overloaded"})])))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "hi")
    contract.validate_stream(result.events)
    assert result.types == ["start", "chunk", "error"]
    assert result.events[-1]["error_code"] == "BACKEND_ERROR"
    assistant = api.path(session_id)[1]
    assert assistant["content"] == [{"type": "text", "text": "Partial"}]
    assert assistant["is_complete"] is False


def test_enabled_capabilities_must_be_available(api, backend, session_type, contract):
    session_id = api.create_session(session_type)
    response = api.post("/messages/send", json={"session_id": session_id, "content": "hi",
                                                "enabled_capabilities": ["time_travel"]})
    contract.validate_error(response, 400, "INVALID_REQUEST")
    assert api.path(session_id) == []  # nothing stored

    result = api.send(session_id, "hi", enabled_capabilities=["code_interpreter"])
    assert result.types[-1] == "complete"
    assert [c["id"] for c in backend.events("message.new")[0]["enabled_capabilities"]] == ["code_interpreter"]


def test_file_ids_are_stored_and_forwarded_when_the_session_allows_files(api, backend, session_type):
    session_id = api.create_session(session_type)
    files = ["3fa85f64-5717-4562-b3fc-2c963f66afa6", "9b2d1b7a-1c1e-4c55-9a0b-1f0e2f3d4c5b"]
    result = api.send(session_id, "see attached", file_ids=files)
    assert result.types[-1] == "complete"
    assert backend.events("message.new")[0]["message"]["file_ids"] == files
    assert api.path(session_id)[0]["file_ids"] == files


def test_file_ids_are_refused_without_a_file_capability(api, make_session_type, backend, contract):
    backend.on("session.created", lambda e, env: json_answer({"available_capabilities": [
        {"id": "web_search", "name": "Web search", "enabled_by_default": True}]}))
    session_id = api.create_session(make_session_type(backend))
    response = api.post("/messages/send", json={"session_id": session_id, "content": "hi",
                                                "file_ids": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"]})
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == "file_ids"


def test_send_to_a_foreign_session_is_404_and_stores_nothing(api, session_type, contract, db):
    session_id = api.create_session(session_type)
    intruder = api.as_client("intruder")
    response = intruder.post("/messages/send", json={"session_id": session_id, "content": "hi"})
    contract.validate_error(response, 404, "SESSION_NOT_FOUND")
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


def test_hidden_messages_never_reach_clients_and_llm_hidden_never_reach_backends(api, backend, session_type, db):
    session_id = api.create_session(session_type)
    api.send(session_id, "visible question")
    # A backend or admin can place such messages (e.g. a system prompt); here straight in the table.
    leaf = db.execute("SELECT id FROM messages WHERE role = 'assistant'").fetchone()["id"]
    db.execute("""INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active,
                                         is_hidden_from_user)
                  VALUES (gen_random_uuid(), %s, %s, 'system', %s, 0, true, true)""",
               (session_id.split("~")[1], leaf, json.dumps([{"type": "text", "text": "SECRET PROMPT"}])))
    db.execute("UPDATE messages SET is_hidden_from_llm = true WHERE role = 'user'")

    api.send(session_id, "next question")
    listed = json.dumps(api.path(session_id))
    assert "SECRET PROMPT" not in listed
    history = backend.events("message.new")[1]["history"]
    assert "SECRET PROMPT" in json.dumps(history)  # hidden from the user, not from the LLM
    assert "visible question" not in json.dumps(history)  # its content never goes to a backend
    assert "visible question" in listed


def test_a_send_to_a_locked_session_waits_for_the_lock_and_reads_what_its_holder_committed(
        api, backend, session_type, database_url):
    """The common send locks the session, then walks and writes the tree in fresh snapshots
    (migration 007): a send that waited for the lock sees what its holder committed, here a new leaf
    and new metadata (one statement that took the lock itself would have walked the old tree)."""
    session_id = api.create_session(session_type)
    first = api.send(session_id, "first")
    assert first.types[-1] == "complete"
    session_uuid, leaf_uuid = session_id.split("~")[1], first.message_id.split("~")[1]
    sent = []
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT id FROM sessions WHERE id = %s FOR UPDATE", (session_uuid,))
        holder.execute("""UPDATE sessions SET metadata = '{"set_by": "the lock holder"}' WHERE id = %s""",
                       (session_uuid,))
        holder.execute("""INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active)
                          VALUES (gen_random_uuid(), %s, %s, 'system',
                                  '[{"type": "text", "text": "added by the lock holder"}]', 0, true)""",
                       (session_uuid, leaf_uuid))
        sender = threading.Thread(target=lambda: sent.append(api.send(session_id, "second")))
        sender.start()
        with psycopg.connect(database_url, autocommit=True) as watcher:
            wait_until(lambda: watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()[0] == 1,
                message="the send waiting for the session lock")
        holder.commit()
    sender.join(timeout=30)
    assert sent and sent[0].types[-1] == "complete"
    event = backend.events("message.new")[-1]
    assert event["session_metadata"] == {"set_by": "the lock holder"}
    assert [item["content"][0]["text"] for item in event["history"]][-1] == "added by the lock holder"
    texts = [m["content"][0]["text"] for m in api.path(session_id)]
    assert texts[:4] == ["first", "Hello world", "added by the lock holder", "second"]

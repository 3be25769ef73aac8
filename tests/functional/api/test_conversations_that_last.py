"""Issue 24 §1 and §2: summaries that keep up (auto_summary_every_messages) and bounded history
(history_window_messages), end to end through a real engine and backend."""
from support.backends import chunk, complete, gate, ndjson, stream_answer
from support.engine import expect
from support.waiting import wait_until

SUMMARY = "The user said hello several times."
EVENT_FIELDS = {"event", "session_id", "message_id", "session_metadata", "enabled_capabilities", "message",
                "history", "timestamp"}  # MessageNewEvent's properties: it allows no others
MESSAGE_FIELDS = {"message_id", "session_id", "role", "content", "file_ids", "parent_message_id", "variant_info",
                  "metadata", "created_at"}  # a history item (the contract's Message): no others
MESSAGE_REQUIRED = {"message_id", "session_id", "role", "content", "created_at"}


def summarizing(backend, answer=None):
    """A backend whose summaries stream `SUMMARY`, or `answer(event)`; each summary event is recorded."""
    def summary(event, environ):
        return answer(event) if answer else stream_answer(iter([ndjson(chunk(SUMMARY), complete())]))
    backend.on("session.summary", summary)


def texts(history):
    return [item["content"][0]["text"] if isinstance(item["content"], list) else item["content"] for item in history]


def test_a_window_sends_the_system_messages_the_summary_and_the_last_messages(
        api, backend, make_session_type, contract):
    summarizing(backend)
    session_type = make_session_type(backend, history_window_messages=4, summarization_enabled=True)
    session_id = api.create_session(session_type)
    expect(api.post(f"/sessions/{session_id}/messages", json={"role": "system", "content": "be brief",
                                                               "hidden_from_user": True}), 201)
    for n in range(1, 5):
        api.send(session_id, f"turn {n}")
    # Nine messages so far: the system prompt and four turns. The fifth turn's history keeps the prompt and
    # the last four messages; four are left out, and no summary exists yet.
    api.send(session_id, "turn 5")
    event = backend.events("message.new")[-1]
    assert set(event) - {"_received_at"} <= EVENT_FIELDS  # _received_at: the test backend's stamp
    assert texts(event["history"]) == ["be brief", "turn 3", "Hello world", "turn 4", "Hello world"]
    assert event["session_metadata"]["chat_engine_history"] == {"window_messages": 4, "omitted_messages": 4,
                                                                "summary_id": None, "uncovered_messages": 4}

    summary = api.stream(f"/sessions/{session_id}/summarize")
    assert summary.text == SUMMARY
    api.send(session_id, "turn 6")
    event = backend.events("message.new")[-1]
    history = event["history"]
    assert texts(history) == ["be brief", SUMMARY, "turn 4", "Hello world", "turn 5", "Hello world"]
    marked = history[1]
    assert MESSAGE_REQUIRED <= set(marked) <= MESSAGE_FIELDS
    assert marked["role"] == "system" and marked["message_id"] == summary.message_id
    assert marked["session_id"] == session_id
    assert marked["metadata"]["chat_engine_summary"] is True
    stored = api.get(f"/sessions/{session_id}").json()["metadata"]["summary"]
    assert marked["metadata"]["covers_through_message_id"] == stored["covers_through_message_id"]
    assert stored["path_messages"] == 11
    assert event["session_metadata"]["chat_engine_history"] == {
        "window_messages": 4, "omitted_messages": 6, "summary_id": summary.message_id, "uncovered_messages": 0}
    # What the client reads is the whole path (but the prompt hidden from users), always.
    assert len(api.path(session_id)) == 12


def test_a_branch_and_a_share_recipient_get_the_window_too(api, backend, make_session_type):
    session_type = make_session_type(backend, history_window_messages=2)
    session_id = api.create_session(session_type)
    for n in range(1, 4):
        api.send(session_id, f"turn {n}")
    first_reply = api.path(session_id)[1]["message_id"]
    api.send(session_id, "a branch", parent_message_id=first_reply)
    assert texts(backend.events("message.new")[-1]["history"]) == ["turn 1", "Hello world"]
    assert backend.events("message.new")[-1]["session_metadata"]["chat_engine_history"]["omitted_messages"] == 0

    api.send(session_id, "back on the branch")
    token = expect(api.post(f"/sessions/{session_id}/share", json={}), 201).json()["share_token"]
    api.as_client(api.client_id + "-guest").stream(f"/share/{token}/messages", {"content": "a guest asks"})
    event = backend.events("message.new")[-1]
    assert texts(event["history"]) == ["back on the branch", "Hello world"]
    assert event["session_metadata"]["chat_engine_history"]["omitted_messages"] == 4


def test_summaries_keep_up_in_the_background_one_at_a_time(api, backend, make_session_type):
    held = gate()
    started = []

    def slow_summary(event):
        started.append(event)

        def body():
            held.wait()
            yield ndjson(chunk(f"summary of {len(event['history'])}"), complete())
        return stream_answer(body())
    summarizing(backend, slow_summary)
    session_type = make_session_type(backend, summarization_enabled=True, auto_summary_every_messages=4)
    session_id = api.create_session(session_type)
    api.send(session_id, "one")
    assert backend.events("session.summary") == []  # two messages: not due
    api.send(session_id, "two")
    wait_until(lambda: started, message="a background summary asked for")
    api.send(session_id, "three")  # due again by count, but one is running: not a second
    api.send(session_id, "four")
    held.set()

    def stored():
        summary = api.get(f"/sessions/{session_id}").json()["metadata"].get("summary")
        return summary if summary and summary["path_messages"] >= 4 else None
    summary = wait_until(stored, message="the summary stored")
    # A second one would have been asked for while the first was held, long before it was stored.
    assert len(backend.events("session.summary")) == 1 and len(started[0]["history"]) == 4
    assert summary["text"] == "summary of 4" and summary["is_complete"] is True
    assert summary["covers_through_message_id"] == api.path(session_id)[3]["message_id"]
    # The next stored reply finds the path 4 past it (eight messages against four): the next summary.
    api.send(session_id, "five")
    wait_until(lambda: len(backend.events("session.summary")) == 2, message="the second summary")
    wait_until(lambda: stored() and stored()["path_messages"] == 10, message="the second summary stored")


def test_a_failed_background_summary_keeps_the_last_one_and_the_next_reply_asks_again(
        api, backend, make_session_type, db):
    failing = {"on": True}

    def summary(event):
        if failing["on"]:
            return "500 Internal Server Error", [("Content-Type", "application/json")], [b"{}"]
        return stream_answer(iter([ndjson(chunk("made at last"), complete())]))
    summarizing(backend, summary)
    session_type = make_session_type(backend, summarization_enabled=True, auto_summary_every_messages=2)
    session_id = api.create_session(session_type)
    api.send(session_id, "one")
    wait_until(lambda: backend.events("session.summary"), message="a first summary asked for")
    wait_until(lambda: db.execute("SELECT count(*) AS n FROM summary_runs").fetchone()["n"] == 0,
               message="the failed run's claim released")
    assert "summary" not in api.get(f"/sessions/{session_id}").json()["metadata"]
    failing["on"] = False
    api.send(session_id, "two")
    wait_until(lambda: api.get(f"/sessions/{session_id}").json()["metadata"].get("summary"),
               message="the summary stored on the next reply")
    assert api.get(f"/sessions/{session_id}").json()["metadata"]["summary"]["text"] == "made at last"


def test_clients_cannot_write_the_engine_s_summary_or_history_keys(api, backend, make_session_type, contract):
    session_type = make_session_type(backend, summarization_enabled=True)
    forged = {"summary": {"is_complete": True, "text": "forged", "summary_id": 42}}
    refused = api.post("/sessions", json={"session_type_id": session_type, "metadata": forged})
    contract.validate_error(refused, 400, "INVALID_REQUEST")
    assert refused.json()["details"]["validation_errors"][0]["code"] == "engine_owned"
    session_id = api.create_session(session_type, metadata={"chat_engine_history": {"omitted_messages": 99}})
    contract.validate_error(api.call("PATCH", f"/sessions/{session_id}", json={"metadata": forged}), 400,
                            "INVALID_REQUEST")
    api.send(session_id, "hello")
    assert "chat_engine_history" not in backend.events("message.new")[-1]["session_metadata"]  # no window here


def test_after_an_edit_summaries_count_from_the_new_path(api, backend, make_session_type):
    summarizing(backend)
    session_type = make_session_type(backend, summarization_enabled=True, auto_summary_every_messages=4)
    session_id = api.create_session(session_type)
    for n in range(1, 4):
        api.send(session_id, f"turn {n}")
    wait_until(lambda: len(backend.events("session.summary")) == 1, message="a summary of the first path")
    wait_until(lambda: api.get(f"/sessions/{session_id}").json()["metadata"].get("summary"),
               message="the summary stored")
    first_user = api.path(session_id)[0]["message_id"]
    api.send(session_id, "turn 1, edited", edited_message_id=first_user)  # a path of two, away from the summary
    api.send(session_id, "turn 2 again")  # four messages on a path the summary does not cover: due
    wait_until(lambda: len(backend.events("session.summary")) == 2, message="a summary of the new path")
    assert [h["content"][0]["text"] for h in backend.events("session.summary")[-1]["history"]][0] == "turn 1, edited"

"""Switching session types, metadata and listing, reactions, summaries."""

from support.backends import Backend, chunk, complete, json_answer, ndjson, stream_answer


def test_switch_type_routes_the_next_message_to_the_new_backend_with_full_history(api, backend, session_type,
                                                                                   make_session_type, contract):
    other = Backend()
    try:
        other.on("session.created", lambda e, env: json_answer({"available_capabilities": [
            {"id": "human_handoff", "name": "Human handoff", "enabled_by_default": True}]}))
        new_type = make_session_type(other)
        session_id = api.create_session(session_type)
        api.send(session_id, "first, to the bot")

        response = api.call("PATCH", f"/sessions/{session_id}/type", json={"new_session_type_id": new_type})
        assert response.status_code == 200
        assert contract.validate(response.json(), "SwitchTypeResponse") == {"session_id": session_id,
                                                                            "session_type_id": new_type}
        session = api.get(f"/sessions/{session_id}").json()
        assert session["session_type_id"] == new_type
        assert [c["id"] for c in session["available_capabilities"]] == ["human_handoff"]
        assert other.events("session.created")[0]["session_id"] == session_id

        result = api.send(session_id, "second, to the human desk")
        assert result.types[-1] == "complete"
        assert len(backend.events("message.new")) == 1 and len(other.events("message.new")) == 1
        history = other.events("message.new")[0]["history"]
        assert [h["role"] for h in history] == ["user", "assistant"]
        path = api.path(session_id)
        assert [m["metadata"].get("session_type_id") for m in path if m["role"] == "assistant"] == \
            [session_type, new_type]

        contract.validate_error(api.call("PATCH", f"/sessions/{session_id}/type", json={
            "new_session_type_id": "gts.hyperspot.chat_engine.session_types.ghost.v1~"}), 400, "INVALID_REQUEST")
        contract.validate_error(api.as_client("x").call("PATCH", f"/sessions/{session_id}/type", json={
            "new_session_type_id": new_type}), 404, "SESSION_NOT_FOUND")
    finally:
        other.stop()


def test_metadata_update_merges_and_lists_filter_by_tag(api, session_type, contract):
    first = api.create_session(session_type)
    second = api.create_session(session_type)
    third = api.create_session(session_type)
    response = api.call("PATCH", f"/sessions/{first}", json={"title": "Recipes", "tags": ["food", "home"],
                                                            "metadata": {"color": "green", "nested": {"a": 1}}})
    assert response.status_code == 200
    contract.validate(response.json(), "Session")
    api.call("PATCH", f"/sessions/{first}", json={"metadata": {"color": None, "nested": {"b": 2}}})
    assert api.get(f"/sessions/{first}").json()["metadata"] == {
        "title": "Recipes", "tags": ["food", "home"], "nested": {"a": 1, "b": 2}}
    api.call("PATCH", f"/sessions/{third}", json={"tags": ["food"]})

    listed = contract.validate(api.get("/sessions", params={"limit": 2}).json(), "SessionList")
    assert [s["session_id"] for s in listed["sessions"]] == [third, second]
    rest = api.get("/sessions", params={"limit": 2, "cursor": listed["next_cursor"]}).json()
    assert [s["session_id"] for s in rest["sessions"]] == [first] and rest["next_cursor"] is None
    tagged = api.get("/sessions", params={"tag": "food"}).json()["sessions"]
    assert [s["session_id"] for s in tagged] == [third, first]
    assert api.as_client("stranger").get("/sessions").json()["sessions"] == []

    for bad in ({}, {"tags": "food"}, {"title": 5}, {"metadata": {"tags": "x"}}, {"extra": 1}):
        contract.validate_error(api.call("PATCH", f"/sessions/{first}", json=bad), 400, "INVALID_REQUEST")
    contract.validate_error(api.get("/sessions", params={"limit": 101}), 400, "INVALID_REQUEST")
    contract.validate_error(api.get("/sessions", params={"cursor": "garbage!"}), 400, "INVALID_REQUEST")


def test_reactions_upsert_notify_and_show_on_reads(api, backend, session_type, contract):
    session_id = api.create_session(session_type)
    reply = api.send(session_id, "hi").message_id

    def react(kind, client=api):
        response = client.post(f"/messages/{reply}/reaction", json={"reaction_type": kind})
        assert response.status_code == 200, response.text
        return response.json()

    assert contract.validate(react("like"), "ReactionResponse") == {"message_id": reply, "reaction_type": "like",
                                                                   "applied": True}
    assert react("like")["applied"] is False
    assert react("dislike")["applied"] is True
    events = backend.wait_for("message.reaction", count=2)
    assert [(e["reaction_type"], e["previous_reaction_type"]) for e in events] == [("like", None), ("dislike", "like")]
    assert events[0]["user_id"] == api.client_id

    message = contract.validate(api.get(f"/messages/{reply}").json(), "Message")
    assert message["reactions"] == {"like": 0, "dislike": 1} and message["my_reaction"] == "dislike"
    assert react("none")["applied"] is True
    assert backend.wait_for("message.reaction", count=3)[2]["previous_reaction_type"] == "dislike"
    assert api.path(session_id)[1]["my_reaction"] is None
    contract.validate_error(api.post(f"/messages/{reply}/reaction", json={"reaction_type": "love"}),
                            400, "INVALID_REQUEST")
    contract.validate_error(api.as_client("other").post(f"/messages/{reply}/reaction",
                                                        json={"reaction_type": "like"}), 404, "MESSAGE_NOT_FOUND")


def test_reaction_answers_even_when_the_backend_is_down(api, backend, session_type):
    session_id = api.create_session(session_type)
    reply = api.send(session_id, "hi").message_id
    backend.stop()
    assert api.post(f"/messages/{reply}/reaction", json={"reaction_type": "like"}).json()["applied"] is True


def test_summary_streams_from_the_backend_and_is_stored(api, backend, make_session_type, contract):
    backend.on("session.summary", lambda e, env: stream_answer(iter([ndjson(
        chunk("A talk"), chunk(" about cats."), complete())])))
    session_type = make_session_type(backend, summarization_enabled=True,
                                     summarization_settings={"max_length": 100, "focus": "general"})
    session_id = api.create_session(session_type)
    api.send(session_id, "tell me about cats")
    result = api.stream(f"/sessions/{session_id}/summarize")
    contract.validate_stream(result.events)
    assert result.types == ["start", "chunk", "chunk", "complete"] and result.text == "A talk about cats."
    event = backend.events("session.summary")[0]
    assert event["summarization_settings"] == {"max_length": 100, "focus": "general"}
    assert [h["role"] for h in event["history"]] == ["user", "assistant"]
    summary = api.get(f"/sessions/{session_id}").json()["metadata"]["summary"]
    assert summary["text"] == "A talk about cats." and summary["is_complete"] is True
    assert summary["summary_id"] == result.message_id


def test_summary_goes_to_the_dedicated_service_when_configured(api, backend, make_session_type):
    summarizer = Backend()
    try:
        summarizer.on("session.summary", lambda e, env: json_answer({"summary": "Short.", "metadata": {}}))
        session_type = make_session_type(backend, summarization_enabled=True, summarization_url=summarizer.url)
        session_id = api.create_session(session_type)
        api.send(session_id, "hello")
        assert api.stream(f"/sessions/{session_id}/summarize").text == "Short."
        assert backend.events("session.summary") == [] and len(summarizer.events("session.summary")) == 1
    finally:
        summarizer.stop()


def test_summary_is_refused_when_the_type_does_not_enable_it(api, session_type, contract):
    session_id = api.create_session(session_type)
    api.send(session_id, "hello")
    contract.validate_error(api.post(f"/sessions/{session_id}/summarize"), 400, "INVALID_REQUEST")
    assert "summary" not in api.get(f"/sessions/{session_id}").json()["metadata"]

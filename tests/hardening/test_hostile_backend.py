"""A hostile or careless backend against a real engine: a reply too large to index whole
is still stored, and JSON that PostgreSQL cannot hold ends the reply as a backend error instead of
losing it at its final save and leaving its session busy."""
from support.backends import chunk, complete, ndjson, stream_answer
from support.texts import distinct_words


def answer_with(*lines):
    def answer(event, environ):
        return stream_answer(iter(lines))
    return answer


def stored(api, message_id):
    return api.get(f"/messages/{message_id}").json()


def test_a_reply_too_large_to_index_whole_is_stored_complete_and_the_session_stays_free(
        api, backend, make_session_type, contract):
    text = distinct_words(850_000, tag="h")
    pieces = [text[i:i + 8192] for i in range(0, len(text), 8192)]
    backend.on("message.new", answer_with(*(ndjson(chunk(p)) for p in pieces), ndjson(complete())))
    session_id = api.create_session(make_session_type(backend))
    result = api.send(session_id, "print the hex dump")
    assert result.types[-1] == "complete", result.events[-1]
    assert result.text == text
    message = stored(api, result.message_id)
    assert message["is_complete"] is True and "stop_reason" not in message["metadata"]
    assert message["content"] == [{"type": "text", "text": text}]
    backend.on("message.new", answer_with(ndjson(chunk("ok")), ndjson(complete())))
    assert api.send(session_id, "and now?").types[-1] == "complete"  # not 409: no live row was left


def test_an_early_word_of_a_huge_reply_is_searchable(api, backend, make_session_type):
    text = "zanzibarquartz " + distinct_words(900_000, tag="h")
    backend.on("message.new", answer_with(ndjson(chunk(text)), ndjson(complete())))
    session_id = api.create_session(make_session_type(backend))
    assert api.send(session_id, "dump").types[-1] == "complete"
    hits = api.get(f"/sessions/{session_id}/search", params={"query": "zanzibarquartz"}).json()
    assert len(hits["results"]) == 1


def unstorable_lines():
    chunk_line = b'{"type":"chunk","chunk":{"type":"text","content":"%s"}}\n'
    return {
        "a NUL in a chunk": [ndjson(chunk("kept")), chunk_line % b"a\\u0000b"],
        "a lone surrogate": [ndjson(chunk("kept")), chunk_line % b"\\ud800"],
        "NaN in metadata": [ndjson(chunk("kept")), b'{"type":"complete","metadata":{"score":NaN}}\n'],
        "a NUL in a metadata key": [ndjson(chunk("kept")), b'{"type":"complete","metadata":{"k\\u0000":1}}\n'],
        "deep metadata": [ndjson(chunk("kept")),
                          b'{"type":"complete","metadata":{"a":' + b"[" * 200 + b"]" * 200 + b"}}\n"],
    }


def test_json_the_database_cannot_hold_ends_the_reply_as_a_backend_error_with_what_came_before(
        api, backend, make_session_type, contract):
    session_id = api.create_session(make_session_type(backend, breaker_failure_threshold=50))
    for case, lines in unstorable_lines().items():
        backend.on("message.new", answer_with(*lines))
        result = api.send(session_id, case)
        contract.validate_stream(result.events)
        assert result.events[-1]["type"] == "error", case
        assert result.events[-1]["error_code"] == "BACKEND_ERROR", (case, result.events[-1])
        message = stored(api, result.message_id)
        assert message["metadata"]["stop_reason"] == "backend_error", case
        assert message["content"] == [{"type": "text", "text": "kept"}], case
    backend.on("message.new", answer_with(ndjson(chunk("fine")), ndjson(complete())))
    assert api.send(session_id, "still free?").types[-1] == "complete"


def test_a_session_created_answer_the_database_cannot_hold_is_a_backend_error(api, backend, make_session_type):
    def answer(event, environ):
        return "200 OK", [("Content-Type", "application/json")], \
            [b'{"available_capabilities":[{"id":"x\\u0000","name":"n","enabled_by_default":true}]}']
    backend.on("session.created", answer)
    type_id = make_session_type(backend)
    response = api.post("/sessions", json={"session_type_id": type_id})
    assert response.status_code == 502, response.text
    assert response.json()["error_code"] == "BACKEND_ERROR"

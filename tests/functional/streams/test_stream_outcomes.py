"""Timeouts that fit streaming, a stop_reason on every incomplete reply, fair breakers, and
connection reuse towards backends."""
import time

import requests

from support.backends import chunk, complete, gate, json_answer, ndjson, stream_answer
from support.engine import Api, read_ndjson


def steady_backend(backend, count, every):
    """A reply that keeps streaming: `count` chunks, one every `every` seconds."""
    def answer(event, environ):
        def body():
            for index in range(count):
                yield ndjson(chunk(f"{index} "))
                time.sleep(every)
            yield ndjson(complete())
        return stream_answer(body())
    backend.on("message.new", answer)


def stored(api, message_id):
    return api.get(f"/messages/{message_id}").json()


def test_a_reply_streaming_longer_than_timeout_seconds_completes(api, backend, make_session_type, contract):
    steady_backend(backend, count=8, every=0.4)  # 3.2 s in all, never silent for 1 s
    session_id = api.create_session(make_session_type(backend, timeout_seconds=1))
    started = time.monotonic()
    result = api.send(session_id, "a long answer please")
    assert time.monotonic() - started > 3
    contract.validate_stream(result.events)
    assert result.types[-1] == "complete"
    assert result.text == "".join(f"{i} " for i in range(8))
    message = stored(api, result.message_id)
    assert message["is_complete"] is True and "stop_reason" not in message["metadata"]


def test_a_backend_s_own_stop_reason_is_kept_aside_and_the_reply_is_complete_live_and_rejoined(
        api, backend, session_type):
    """`stop_reason` is the engine's: a backend's "end_turn" would mark a complete reply as incomplete
    (and a rejoin would end it with an error line)."""
    def answer(event, environ):
        return stream_answer([ndjson(chunk("done")),
                              ndjson({"type": "complete", "metadata": {"stop_reason": "end_turn", "model": "m"}})])
    backend.on("message.new", answer)
    result = api.send(api.create_session(session_type), "hi")
    expected = {"backend_stop_reason": "end_turn", "model": "m"}
    assert result.events[-1]["type"] == "complete" and result.events[-1]["metadata"] == expected
    message = stored(api, result.message_id)
    assert message["is_complete"] is True and message["metadata"] == {**message["metadata"], **expected}
    assert "stop_reason" not in message["metadata"]
    rejoined = list(read_ndjson(api.get(f"/messages/{result.message_id}/stream", stream=True)))
    assert rejoined[-1]["type"] == "complete" and rejoined[-1]["metadata"]["backend_stop_reason"] == "end_turn"


def test_silence_mid_stream_is_backend_timeout_with_the_partial_kept(api, backend, make_session_type):
    never = gate()

    def answer(event, environ):
        def body():
            yield ndjson(chunk("before the silence"))
            never.wait()
        return stream_answer(body())
    backend.on("message.new", answer)
    session_id = api.create_session(make_session_type(backend, timeout_seconds=1))
    result = api.send(session_id, "hi")
    never.set()
    assert result.events[-1]["error_code"] == "BACKEND_TIMEOUT"
    message = stored(api, result.message_id)
    assert message["is_complete"] is False and message["metadata"]["stop_reason"] == "backend_timeout"
    assert message["content"] == [{"type": "text", "text": "before the silence"}]


def test_the_total_cap_ends_the_reply_as_max_duration_and_does_not_trip_the_breaker(
        api, backend, make_session_type, contract, engine_process):
    steady_backend(backend, count=20, every=0.2)
    session_type = make_session_type(backend, timeout_seconds=5, max_reply_seconds=1, breaker_failure_threshold=1)
    session_id = api.create_session(session_type)
    started = time.monotonic()
    result = api.send(session_id, "hi")
    assert 0.9 < time.monotonic() - started < 3
    contract.validate_stream(result.events)
    assert result.events[-1]["error_code"] == "BACKEND_TIMEOUT"
    assert result.events[-1]["details"]["timeout_ms"] == 1000
    message = stored(api, result.message_id)
    assert message["is_complete"] is False and message["metadata"]["stop_reason"] == "max_duration"
    assert message["content"][0]["text"].startswith("0 1 ")
    assert _breaker(engine_process, session_type) == "closed"


def test_backend_errors_say_so(api, backend, session_type):
    backend.on("message.new", lambda e, env: stream_answer(iter([ndjson(chunk("half")), b"garbage\n"])))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "hi")
    assert result.events[-1]["error_code"] == "BACKEND_ERROR"
    assert stored(api, result.message_id)["metadata"]["stop_reason"] == "backend_error"


def test_a_client_disconnect_is_cancelled(api, backend, session_type):
    never = gate()

    def answer(event, environ):
        def body():
            yield ndjson(chunk("partial"))
            never.wait()
        return stream_answer(body())
    backend.on("message.new", answer)
    session_id = api.create_session(session_type)
    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "hi"})
    events = read_ndjson(response)
    start, _ = next(events), next(events)
    response.close()
    backend.wait_for("message.aborted")
    never.set()
    message = stored(api, start["message_id"])
    assert message["is_complete"] is False and message["metadata"]["stop_reason"] == "cancelled"


def _breaker(engine_process, session_type):
    return requests.get(engine_process.url + "/health/ready", timeout=5).json()["breakers"].get(session_type, "closed")


def test_only_backend_faults_count_for_the_breaker(start_engine, backend, make_session_type):
    engine_process = start_engine()
    api = Api(engine_process.url, "fair-client")
    session_type = make_session_type(backend, breaker_failure_threshold=2, breaker_open_seconds=60)
    session_id = api.create_session(session_type)

    # A 4xx is the backend refusing one client's input: never a fault of the backend.
    backend.on("message.new", lambda e, env: json_answer({"error": "content policy"}, "422 Unprocessable Entity"))
    for _ in range(3):
        assert api.send(session_id, "refused").events[-1]["error_code"] == "BACKEND_ERROR"
    assert _breaker(engine_process, session_type) == "closed"

    # 5xx are faults: two of them open this type's breaker, and calls then fail fast.
    backend.on("message.new", lambda e, env: json_answer({"error": "down"}, "503 Service Unavailable"))
    for _ in range(2):
        api.send(session_id, "down")
    assert _breaker(engine_process, session_type) == "open"
    refused = api.send(session_id, "fails fast")
    assert refused.status == 503 and refused.error["error_code"] == "BACKEND_ERROR"
    assert 50 <= refused.error["details"]["retry_after_seconds"] <= 60


def test_breaker_settings_are_per_session_type_and_shown(admin, backend):
    created = admin.post("/admin/session-types", json={
        "name": "tuned_breaker", "webhook_url": backend.url, "breaker_failure_threshold": 7,
        "breaker_open_seconds": 45, "breaker_half_open_probes": 2, "max_reply_seconds": 3600}).json()
    assert (created["breaker_failure_threshold"], created["breaker_open_seconds"],
            created["breaker_half_open_probes"], created["max_reply_seconds"]) == (7, 45, 2, 3600)
    too_long = admin.post("/admin/session-types", json={"name": "too_long", "webhook_url": backend.url,
                                                        "max_reply_seconds": 3601})
    assert too_long.status_code == 400
    default = admin.post("/admin/session-types", json={"name": "default_cap", "webhook_url": backend.url}).json()
    assert default["max_reply_seconds"] == 1800 and default["breaker_open_seconds"] is None


def test_backend_connections_are_reused(api, backend, session_type):
    session_id = api.create_session(session_type)
    for index in range(5):
        assert api.send(session_id, f"turn {index}").types[-1] == "complete"
    # One engine worker, sequential calls (session.created, then five streamed replies read to their
    # end): one kept-alive TCP connection serves them all.
    assert len(backend.received) == 6
    assert backend.accepted_connections == 1

"""Backend isolation: timeouts, circuit breakers, robust relay, notices off the request path."""
import time

import pytest
import requests

from support.backends import chunk, complete, gate, json_answer, ndjson, stream_answer
from support.engine import Api
from support.waiting import wait_until


def silent_backend(backend):
    never = gate()

    def answer(event, environ):
        def body():
            never.wait()
            yield b""
        return stream_answer(body())
    backend.on("message.new", answer)
    return never


def test_timeout_is_honoured_within_ten_percent(api, backend, make_session_type, contract):
    silent_backend(backend)
    session_id = api.create_session(make_session_type(backend, timeout_seconds=2))
    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "hi"})
    opened = time.monotonic()
    from support.engine import read_ndjson

    events = list(read_ndjson(response))
    elapsed = time.monotonic() - opened
    contract.validate_stream(events)
    assert events[-1]["error_code"] == "BACKEND_TIMEOUT" and events[-1]["details"]["timeout_ms"] == 2000
    assert 1.8 <= elapsed <= 2.2, elapsed
    assert api.path(session_id)[-1]["is_complete"] is False


BROKEN_REPLIES = {
    "malformed line": lambda: stream_answer(iter([ndjson(chunk("ok")), b"this is not json\n"])),
    "unknown event": lambda: stream_answer(iter([ndjson(chunk("ok"), {"type": "telepathy"})])),
    "no complete": lambda: stream_answer(iter([ndjson(chunk("ok"))])),
    "closed mid-line": lambda: stream_answer(iter([ndjson(chunk("ok")), b'{"type":"chunk","chu'])),
    "malformed chunk": lambda: stream_answer(iter([ndjson(chunk("ok"), {"type": "chunk", "chunk": "raw"})])),
    "non-2xx": lambda: ("500 Internal Server Error", [("Content-Type", "application/x-ndjson")],
                        [ndjson(chunk("ok"), complete())]),
    "wrong content type": lambda: ("200 OK", [("Content-Type", "text/html")], [b"<html>hello</html>"]),
    "invalid JSON body": lambda: ("200 OK", [("Content-Type", "application/json")], [b"{nope"]),
    "JSON without content": lambda: json_answer({"role": "assistant"}),
}


@pytest.mark.parametrize("personality", list(BROKEN_REPLIES))
def test_broken_backend_replies_become_clean_errors(api, backend, session_type, contract, personality):
    backend.on("message.new", lambda e, env: BROKEN_REPLIES[personality]())
    session_id = api.create_session(session_type)
    result = api.send(session_id, "hi")
    assert result.status == 200
    contract.validate_stream(result.events)
    assert result.types[0] == "start" and result.types[-1] == "error"
    assert result.events[-1]["error_code"] == "BACKEND_ERROR"
    assistant = api.path(session_id)[-1]
    assert assistant["is_complete"] is False
    if "chunk" in result.types:
        assert assistant["content"][0]["text"].startswith("ok")


def test_oversized_reply_is_cut_at_the_cap(start_engine, backend, make_session_type, contract):
    engine_process = start_engine(MAX_REPLY_BYTES=10_000)
    api = Api(engine_process.url, "big-reply")
    backend.on("message.new", lambda e, env: stream_answer(ndjson(chunk("x" * 1000)) for _ in range(50)))
    session_id = api.create_session(make_session_type(backend))
    result = api.send(session_id, "hi")
    contract.validate_stream(result.events)
    assert result.types[-1] == "error" and "size limit" in result.events[-1]["message"]
    assert len(api.path(session_id)[-1]["content"][0]["text"]) < 10_000


def test_open_breaker_fails_fast_while_another_backend_keeps_working(start_engine, make_session_type, contract):
    from support.backends import Backend

    engine_process = start_engine(BREAKER_RESET_SECONDS=2)
    api = Api(engine_process.url, "breaker-client")
    failing, healthy = Backend(), Backend()
    try:
        failing_type, healthy_type = make_session_type(failing), make_session_type(healthy)
        failing_sessions = [api.create_session(failing_type) for _ in range(2)]
        healthy_session = api.create_session(healthy_type)
        failing.on("message.new", lambda e, env: json_answer({"error": "down"}, "500 Internal Server Error"))

        for attempt in range(5):  # mid-stream failures and 500s both count
            if attempt == 2:
                failing.on("message.new", lambda e, env: stream_answer(iter([ndjson(chunk("half")), b"garbage\n"])))
            result = api.send(failing_sessions[attempt % 2], f"attempt {attempt}")
            assert result.types[-1] == "error"
            assert api.send(healthy_session, f"still fine {attempt}").types[-1] == "complete"
        assert len(failing.events("message.new")) == 5

        fast = api.post("/messages/send", json={"session_id": failing_sessions[0], "content": "now?"})
        body = contract.validate_error(fast, 503, "BACKEND_ERROR")
        assert int(fast.headers["Retry-After"]) >= 1 and body["details"]["retry_after_seconds"] >= 1
        assert len(failing.events("message.new")) == 5  # no request was sent
        assert api.send(healthy_session, "unaffected").types[-1] == "complete"
        ready = requests.get(engine_process.url + "/health/ready", timeout=5).json()
        assert ready["breakers"][failing_type] == "open" and ready["breakers"][healthy_type] == "closed"

        # After the reset period one probe goes through; it succeeds and closes the breaker.
        failing.handlers.clear()
        wait_until(lambda: requests.get(engine_process.url + "/health/ready",
                                        timeout=5).json()["breakers"][failing_type]
                   == "half-open", timeout=10, message="breaker half-open")
        assert api.send(failing_sessions[0], "probe").types[-1] == "complete"
        assert requests.get(engine_process.url + "/health/ready",
                            timeout=5).json()["breakers"][failing_type] == "closed"
        assert api.send(failing_sessions[1], "and again").types[-1] == "complete"
    finally:
        failing.stop()
        healthy.stop()


def test_failed_probe_reopens_the_breaker(start_engine, backend, make_session_type, contract):
    engine_process = start_engine(BREAKER_RESET_SECONDS=1, BREAKER_FAIL_MAX=2)
    api = Api(engine_process.url, "probe-client")
    session_id = api.create_session(make_session_type(backend))
    backend.on("message.new", lambda e, env: json_answer({}, "502 Bad Gateway"))
    for _ in range(2):
        api.send(session_id, "x")
    contract.validate_error(api.post("/messages/send", json={"session_id": session_id, "content": "x"}),
                            503, "BACKEND_ERROR")

    def breaker():
        return requests.get(engine_process.url + "/health/ready", timeout=5).json()["breakers"]
    wait_until(lambda: "half-open" in breaker().values(), timeout=10, message="half-open")
    assert api.send(session_id, "probe").types[-1] == "error"  # the probe fails...
    assert "open" in breaker().values()  # ...and the breaker opens again at once
    assert len(backend.events("message.new")) == 3


def test_client_disconnects_do_not_count_against_the_breaker(start_engine, backend, make_session_type):
    engine_process = start_engine(BREAKER_FAIL_MAX=2)
    api = Api(engine_process.url, "disconnect-client")
    never = silent_backend(backend)
    session_id = api.create_session(make_session_type(backend))
    for index in range(4):
        response = api.open_stream("/messages/send", {"session_id": session_id, "content": "x"})
        response.raw.read1(100)
        response.close()
        backend.wait_for("message.aborted", count=index + 1)
    never.set()
    backend.handlers.clear()
    assert api.send(session_id, "still admitted").types[-1] == "complete"


def test_session_deleted_notice_never_delays_the_client(api, backend, session_type):
    hang = gate()
    backend.on("session.deleted", lambda e, env: (hang.wait(), json_answer({}))[1])
    session_id = api.create_session(session_type)
    response = api.call("DELETE", f"/sessions/{session_id}")
    assert response.status_code == 200
    assert not hang.is_set()
    backend.wait_for("session.deleted")  # delivered in the background, still hanging there
    hang.set()


def test_health_check_is_retried(admin, backend):
    calls = []

    def flaky(event, environ):
        calls.append(event)
        return json_answer({}, "503 Service Unavailable") if len(calls) == 1 else \
            json_answer({"status": "healthy", "version": "1", "capabilities": []})
    backend.on("session_type.health_check", flaky)
    response = admin.post("/admin/session-types", json={"name": "retried_probe", "webhook_url": backend.url,
                                                        "health_check": True})
    assert response.status_code == 201 and len(calls) == 2


def test_a_redirecting_backend_is_reported_by_its_status_and_never_followed(api, backend, session_type):
    backend.on("message.new", lambda e, env: ("302 Found", [("Location", "http://127.0.0.1:9/elsewhere"),
                                                             ("Content-Type", "text/plain")], [b"moved"]))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "hi")
    assert result.types[-1] == "error" and result.events[-1]["error_code"] == "BACKEND_ERROR"
    assert "HTTP 302" in result.events[-1]["message"]

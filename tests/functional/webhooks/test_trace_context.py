"""W3C trace context (app/tracing.py): a request's trace id reaches its backend calls in `traceparent`,
a client's own trace is continued, and a notice carries the trace of the request that made it."""
import re

from support.engine import expect

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
GIVEN_TRACE, GIVEN_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def trace_of(backend, event):
    """(trace id, span id) of the last `event` request the backend received."""
    headers = [headers for name, headers, _ in backend.requests if name == event][-1]
    match = TRACEPARENT.match(headers["Traceparent"])
    assert match, headers["Traceparent"]
    return match.groups()


def test_a_send_s_backend_call_carries_the_request_s_trace_id(api, backend, session_type):
    session_id = api.create_session(session_type)
    created_trace, _ = trace_of(backend, "session.created")
    response = api.call("POST", "/messages/send", json={"session_id": session_id, "content": "hi"}, stream=True)
    assert response.status_code == 200 and response.content
    trace, span = trace_of(backend, "message.new")
    assert trace == response.headers["X-Trace-Id"] and trace != created_trace


def test_a_client_s_traceparent_is_continued_with_a_span_of_the_engine_s(api, backend, session_type):
    session_id = api.create_session(session_type)
    given = f"00-{GIVEN_TRACE}-{GIVEN_SPAN}-01"
    response = api.call("POST", "/messages/send", json={"session_id": session_id, "content": "hi"}, stream=True,
                        headers={"traceparent": given})
    assert response.content and response.headers["X-Trace-Id"] == GIVEN_TRACE
    trace, span = trace_of(backend, "message.new")
    assert trace == GIVEN_TRACE and span != GIVEN_SPAN

    reply = [m for m in api.path(session_id) if m["role"] == "assistant"][-1]["message_id"]
    expect(api.post(f"/messages/{reply}/reaction", json={"reaction_type": "like"}, headers={"traceparent": given}),
           200)
    backend.wait_for("message.reaction")
    assert trace_of(backend, "message.reaction")[0] == GIVEN_TRACE  # delivered later, through the outbox


def test_a_malformed_traceparent_starts_a_trace_of_the_engine_s(api, backend, session_type):
    session_id = api.create_session(session_type)
    for malformed in (f"00-{GIVEN_TRACE.upper()}-{GIVEN_SPAN}-01", f"00-{'0' * 32}-{GIVEN_SPAN}-01",
                      f"01-{GIVEN_TRACE}-{GIVEN_SPAN}-01", "00-²", "x" * 500):
        response = api.call("POST", "/messages/send", json={"session_id": session_id, "content": "hi"},
                            stream=True, headers={"traceparent": malformed})
        assert response.status_code == 200 and response.content
        trace, _ = trace_of(backend, "message.new")
        assert trace == response.headers["X-Trace-Id"] != GIVEN_TRACE

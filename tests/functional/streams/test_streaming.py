"""Cancellation by closing the connection, backend failures mid-stream."""
import time

import gevent

from support.backends import chunk, gate, ndjson, stream_answer
from support.engine import read_ndjson
from support.waiting import wait_until


def stalling_backend(backend, chunks_before_stall):
    """Sends some chunks, then stays silent for ever while watching for the engine to hang up."""
    never = gate()

    def answer(event, environ):
        backend.watch_hangup(environ, event["event"])

        def body():
            for text in chunks_before_stall:
                yield ndjson(chunk(text))
            never.wait()
        return stream_answer(body())
    backend.on("message.new", answer)
    backend.on("message.recreate", answer)
    return never


def disconnect_after(api, session_id, chunk_count):
    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "tell me a story"})
    events = read_ndjson(response)
    received = [next(events) for _ in range(1 + chunk_count)]
    response.close()
    return received, time.monotonic()


def assert_cancelled(api, backend, session_id, assistant_id, expected_text, closed_at):
    aborted = backend.wait_for("message.aborted")[0]
    assert aborted["message_id"] == assistant_id
    expected_parts = [{"type": "text", "text": expected_text}] if expected_text else []
    assert aborted["partial_content"] == expected_parts
    wait_until(lambda: backend.closed_connections, timeout=5, message="engine closing the backend connection")
    _, hung_up_at = backend.closed_connections[0]
    assert hung_up_at - closed_at < 1.5, f"backend connection closed {hung_up_at - closed_at:.2f}s after client"

    assistant = api.get(f"/messages/{assistant_id}").json()
    assert assistant["is_complete"] is False
    assert assistant["content"] == expected_parts
    assert [m["message_id"] for m in api.path(session_id)][-1] == assistant_id


def test_client_disconnect_after_two_chunks_saves_partial_and_aborts(api, backend, session_type):
    stalling_backend(backend, ["Once upon", " a time"])
    session_id = api.create_session(session_type)
    received, closed_at = disconnect_after(api, session_id, 2)
    assert [e["type"] for e in received] == ["start", "chunk", "chunk"]
    assert_cancelled(api, backend, session_id, received[0]["message_id"], "Once upon a time", closed_at)


def test_client_disconnect_while_backend_is_silent_is_noticed(api, backend, session_type):
    stalling_backend(backend, [])
    session_id = api.create_session(session_type)
    received, closed_at = disconnect_after(api, session_id, 0)
    assert_cancelled(api, backend, session_id, received[0]["message_id"], "", closed_at)


def test_next_send_after_a_cancelled_reply_continues_below_it(api, backend, session_type):
    never = stalling_backend(backend, ["partial"])
    session_id = api.create_session(session_type)
    received, _ = disconnect_after(api, session_id, 1)
    backend.wait_for("message.aborted")
    backend.handlers.clear()
    never.set()
    result = api.send(session_id, "continue")
    assert result.types[-1] == "complete"
    history = backend.events("message.new")[-1]["history"]
    assert history[-1]["message_id"] == received[0]["message_id"]
    assert history[-1]["content"] == [{"type": "text", "text": "partial"}]


def test_backend_closing_mid_line_keeps_partial_and_reports_error(api, backend, session_type, contract):
    backend.on("message.new", lambda e, env: stream_answer(iter([ndjson(chunk("half")), b'{"type": "chu'])))
    session_id = api.create_session(session_type)
    result = api.send(session_id, "hi")
    contract.validate_stream(result.events)
    assert result.types == ["start", "chunk", "error"]
    assert result.events[-1]["error_code"] == "BACKEND_ERROR"
    assistant = api.path(session_id)[-1]
    assert assistant["content"] == [{"type": "text", "text": "half"}] and assistant["is_complete"] is False


def test_backend_timeout_mid_stream_keeps_partial(api, make_session_type, backend, contract):
    stalling_backend(backend, ["slow start"])
    session_type = make_session_type(backend, timeout_seconds=1)
    session_id = api.create_session(session_type)
    started = time.monotonic()
    result = api.send(session_id, "hi")
    elapsed = time.monotonic() - started
    contract.validate_stream(result.events)
    assert result.types == ["start", "chunk", "error"]
    assert result.events[-1]["error_code"] == "BACKEND_TIMEOUT"
    assert result.events[-1]["details"]["timeout_ms"] == 1000
    assert 0.9 < elapsed < 1.5, elapsed
    assistant = api.path(session_id)[-1]
    assert assistant["content"] == [{"type": "text", "text": "slow start"}] and assistant["is_complete"] is False


def test_many_streams_do_not_hold_database_connections(api, backend, session_type, db):
    """20 streams open at once on one worker whose pool has at most 10 connections."""
    release = gate()

    def answer(event, environ):
        def body():
            yield ndjson(chunk("hold"))
            release.wait()
            yield ndjson({"type": "complete", "metadata": {}})
        return stream_answer(body())
    backend.on("message.new", answer)
    sessions = [api.create_session(session_type) for _ in range(20)]
    responses = [api.open_stream("/messages/send", {"session_id": s, "content": "x"}) for s in sessions]
    readers = [read_ndjson(r) for r in responses]
    for reader in readers:
        assert [next(reader)["type"], next(reader)["type"]] == ["start", "chunk"]
    # A connection held for a stream would stay idle in transaction while the stream is open; the short
    # transactions that run meanwhile (chunk batches, lease renewals) pass through that state only
    # between their round trips, so some sample must see none.
    wait_until(lambda: db.execute("SELECT count(*) AS n FROM pg_stat_activity "
                                  "WHERE state = 'idle in transaction'").fetchone()["n"] == 0,
               timeout=5, message="no connection idle in a transaction while 20 streams are open")
    release.set()
    finals = gevent.joinall([gevent.spawn(lambda r=r: list(r)) for r in readers], timeout=30)
    assert all(g.value and g.value[-1]["type"] == "complete" for g in finals)

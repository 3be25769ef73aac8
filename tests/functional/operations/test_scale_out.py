"""Stateless instances (ADR-0010): any instance serves any request; a killed one loses nothing acknowledged."""
import signal

import gevent

from support.backends import gate, words_answer
from support.engine import Api, read_ndjson
from support.waiting import wait_until


def test_create_on_one_instance_send_through_another_read_back_on_the_first(start_engine, api,
                                                                             session_type):
    other = Api(start_engine().url, api.client_id)
    session_id = api.create_session(session_type)
    result = other.send(session_id, "hello from instance B")
    assert result.types[-1] == "complete"
    path = api.path(session_id)
    assert [m["message_id"] for m in path] == [result.user_message_id, result.message_id]
    assert path[1]["is_complete"] is True


def test_twenty_concurrent_recreates_through_two_instances(start_engine, api, session_type):
    apis = [api, Api(start_engine().url, api.client_id)]
    session_id = api.create_session(session_type)
    original = api.send(session_id, "question").message_id

    def recreate(index):
        result = apis[index % 2].recreate(original)
        return result.status, result.types[-1] if result.status == 200 else result.error["error_code"]
    jobs = gevent.joinall([gevent.spawn(recreate, i) for i in range(20)], timeout=60, raise_error=True)
    assert [job.value for job in jobs] == [(200, "complete")] * 20

    variants = api.get(f"/messages/{original}/variants").json()["variants"]
    assert [v["variant_index"] for v in variants] == list(range(21))
    assert sum(v["is_active"] for v in variants) == 1


def test_sigkill_mid_stream_leaves_user_message_committed_and_no_half_rows(start_engine, api, backend,
                                                                            session_type, db):
    doomed = start_engine(WEB_CONCURRENCY=1, LEASE_SECONDS=2)
    survivor = Api(start_engine(LEASE_SECONDS=2).url, api.client_id)
    doomed_api = Api(doomed.url, api.client_id)
    never = gate()
    backend.on("message.new", lambda e, env: words_answer(["first", " second"], gate=never, after=1))
    session_id = api.create_session(session_type)

    response = doomed_api.open_stream("/messages/send", {"session_id": session_id, "content": "doomed question"})
    events = read_ndjson(response)
    start, first = next(events), next(events)
    assert first["chunk"]["content"] == "first"
    doomed.kill()
    never.set()

    rows = db.execute("SELECT role, content, is_complete FROM messages ORDER BY created_at").fetchall()
    assert rows == [
        {"role": "user", "content": [{"type": "text", "text": "doomed question"}], "is_complete": True},
        {"role": "assistant", "content": [], "is_complete": False}]

    # Another instance serves the session at once, showing the reply as incomplete, still leased...
    path = survivor.path(session_id)
    assert path[-1]["message_id"] == start["message_id"] and path[-1]["is_complete"] is False
    backend.handlers.clear()
    # ...and once the lease lapses, the sweep of a live instance ends it as interrupted, no restart needed.
    wait_until(lambda: survivor.path(session_id)[-1]["metadata"].get("stop_reason") == "interrupted",
               timeout=10, message="the dead instance's reply marked interrupted")
    assert survivor.send(session_id, "are you there?").types[-1] == "complete"


def test_sigterm_lets_an_inflight_stream_finish(start_engine, api, backend, session_type):
    server = start_engine()
    client = Api(server.url, api.client_id)
    release = gate()
    backend.on("message.new", lambda e, env: words_answer(["before", " after"], gate=release, after=1))
    session_id = api.create_session(session_type)
    response = client.open_stream("/messages/send", {"session_id": session_id, "content": "x"})
    events = read_ndjson(response)
    assert [next(events)["type"], next(events)["type"]] == ["start", "chunk"]

    server.process.send_signal(signal.SIGTERM)
    wait_until(lambda: _refuses_connections(server.url), timeout=10, message="listener closed")
    release.set()
    rest = list(events)
    assert [e["type"] for e in rest] == ["chunk", "complete"]
    server.process.wait(timeout=15)
    assert api.path(session_id)[-1]["is_complete"] is True


def _refuses_connections(url):
    import requests

    try:
        requests.get(url + "/health/live", timeout=0.5)
        return False
    except requests.ConnectionError:
        return True

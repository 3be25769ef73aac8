"""Double-texting, idempotent retries, resumable replies, rejoin and stop, across two real instances.
The database invariants are checked after each test (conftest)."""
import time

import gevent
import psycopg
import pytest

from support.backends import chunk, complete, gate, ndjson, stream_answer
from support.engine import Api, read_ndjson
from support.waiting import wait_until


@pytest.fixture
def two(start_engine, api):
    """The same client on two instances, A and B."""
    first, second = start_engine(LEASE_SECONDS=3), start_engine(LEASE_SECONDS=3)
    return Api(first.url, api.client_id), Api(second.url, api.client_id)


def held_backend(backend, words=("one ", "two ", "three ")):
    """Streams the first word, then waits for the returned gate before the rest."""
    release = gate()

    def answer(event, environ):
        backend.watch_hangup(environ, event["event"])

        def body():
            yield ndjson(chunk(words[0]))
            release.wait()
            for word in words[1:]:
                yield ndjson(chunk(word))
            yield ndjson(complete())
        return stream_answer(body())
    backend.on("message.new", answer)
    backend.on("message.recreate", answer)
    return release


def open_send(client, body, headers=None):
    response = client.call("POST", "/messages/send", json=body, stream=True, headers=headers or {})
    assert response.status_code == 200, response.text
    return response, read_ndjson(response)


def stored(client, message_id):
    return client.get(f"/messages/{message_id}").json()


# -- §4 if_busy ------------------------------------------------------------------------------------

def test_a_second_send_while_a_reply_streams_is_rejected_by_default(two, backend, session_type, contract):
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "first"})
    start = next(events)
    refused = b.post("/messages/send", json={"session_id": session_id, "content": "second"})
    body = contract.validate_error(refused, 409, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["code"] == "reply_in_progress"
    assert refused.headers["X-In-Flight-Message-Id"] == start["message_id"]
    assert start["message_id"].endswith(body["details"]["resource_id"])
    release.set()
    assert [e["type"] for e in events][-1] == "complete"
    assert len(backend.events("message.new")) == 1


def test_interrupt_stops_the_reply_on_the_other_instance_and_continues_below_it(two, backend, session_type):
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "first"})
    start, first_chunk = next(events), next(events)
    sent_at = time.monotonic()
    backend.handlers.clear()  # the new message gets the default answer
    result = b.send(session_id, "actually, something else", if_busy="interrupt")
    assert result.types[-1] == "complete"
    rest = list(events)
    assert rest[-1]["type"] == "error"  # A's client learns its reply was superseded
    aborted = backend.wait_for("message.aborted")[0]
    assert aborted["message_id"] == start["message_id"]
    # Through NOTIFY; without it the reply would be ended by B after STOP_WAIT_SECONDS and A would
    # send no message.aborted at all. (Loose bound: the machine running the tests is shared.)
    assert backend.events("message.aborted")[0]["_received_at"] - sent_at < 3
    interrupted = stored(a, start["message_id"])
    assert interrupted["is_complete"] is False and interrupted["metadata"]["stop_reason"] == "superseded"
    assert interrupted["content"] == [{"type": "text", "text": first_chunk["chunk"]["content"]}]
    path = a.path(session_id)
    assert [m["message_id"] for m in path][-3:] == [start["message_id"], result.user_message_id, result.message_id]
    history = backend.events("message.new")[-1]["history"]
    assert history[-1]["message_id"] == start["message_id"]
    release.set()


def test_parallel_keeps_the_old_behaviour(two, backend, session_type):
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "first"})
    start = next(events)
    backend.handlers.clear()
    result = b.send(session_id, "second", if_busy="parallel")
    assert result.types[-1] == "complete"
    release.set()
    assert [e["type"] for e in events][-1] == "complete"
    # The second turn hangs under the reply that was still streaming.
    assert [m["message_id"] for m in a.path(session_id)][-3:] == [start["message_id"], result.user_message_id,
                                                                 result.message_id]


# -- §3 Idempotency-Key ------------------------------------------------------------------------------

def test_a_retried_send_replays_the_stored_reply_on_the_other_instance(two, backend, session_type, contract):
    a, b = two
    session_id = a.create_session(session_type)
    headers = {"Idempotency-Key": "send-1"}
    body = {"session_id": session_id, "content": "hello"}
    first = a.call("POST", "/messages/send", json=body, headers=headers)
    first_events = list(read_ndjson_text(first.text))
    again = b.call("POST", "/messages/send", json=body, headers=headers)
    replay = list(read_ndjson_text(again.text))
    contract.validate_stream(replay)
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.headers["X-User-Message-Id"] == first.headers["X-User-Message-Id"]
    assert [e["type"] for e in replay] == [e["type"] for e in first_events]
    assert [e.get("message_id") for e in replay] == [e.get("message_id") for e in first_events]
    assert "".join(e["chunk"]["content"] for e in replay if e["type"] == "chunk") == "Hello world"
    assert len(backend.events("message.new")) == 1
    assert len(a.path(session_id)) == 2


def test_a_retry_while_the_first_still_streams_joins_it(two, backend, session_type):
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    headers = {"Idempotency-Key": "join-me"}
    body = {"session_id": session_id, "content": "hello"}
    response, events = open_send(a, body, headers)
    start = next(events)
    next(events)
    response.close()  # the network broke; the client retries with the same key on another instance
    retry = b.call("POST", "/messages/send", json=body, headers=headers, stream=True)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    joined = read_ndjson(retry)
    assert next(joined)["message_id"] == start["message_id"]
    release.set()
    rest = list(joined)
    assert rest[-1]["type"] in ("complete", "error")
    assert len(backend.events("message.new")) == 1


def test_the_same_key_with_another_body_is_409(two, session_type, contract):
    a, b = two
    session_id = a.create_session(session_type)
    headers = {"Idempotency-Key": "k"}
    assert a.call("POST", "/messages/send", json={"session_id": session_id, "content": "one"},
                  headers=headers).status_code == 200
    refused = b.call("POST", "/messages/send", json={"session_id": session_id, "content": "two"}, headers=headers)
    body = contract.validate_error(refused, 409, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["code"] == "idempotency_key_reused"
    # Keys belong to the caller: another client may use the same one.
    other = Api(a.base, "someone-else")
    assert other.call("POST", "/sessions", json={"session_type_id": session_type}, headers=headers).status_code == 201


def test_concurrent_duplicate_creates_make_one_session(two, session_type, db):
    a, b = two
    headers = {"Idempotency-Key": "create-once"}
    body = {"session_type_id": session_type, "metadata": {"title": "once"}}
    jobs = [gevent.spawn(client.call, "POST", "/sessions", json=body, headers=headers) for client in (a, b, a, b)]
    gevent.joinall(jobs, raise_error=True)
    answers = [job.value for job in jobs]
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["session_id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 3
    assert db.execute("SELECT count(*) AS n FROM sessions WHERE client_id = %s", (a.client_id,)).fetchone()["n"] == 1


def test_concurrent_duplicate_sends_make_one_turn(two, backend, session_type):
    a, b = two
    session_id = a.create_session(session_type)
    headers = {"Idempotency-Key": "send-once"}
    body = {"session_id": session_id, "content": "once"}
    jobs = [gevent.spawn(lambda c=c: list(read_ndjson_text(c.call("POST", "/messages/send", json=body,
                                                                     headers=headers).text)))
            for c in (a, b, a, b)]
    gevent.joinall(jobs, raise_error=True)
    assert len({job.value[0]["message_id"] for job in jobs}) == 1
    assert all(job.value[-1]["type"] == "complete" for job in jobs)
    assert len(backend.events("message.new")) == 1
    assert len(a.path(session_id)) == 2


# -- §5 resumable replies, rejoin, stop --------------------------------------------------------------

def test_a_resumable_reply_survives_its_client_and_is_rejoined_elsewhere_without_gap(two, backend,
                                                                                   session_type, contract):
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "hi", "resumable": True})
    start, first = next(events), next(events)
    response.close()
    # The reply goes on: the backend is not hung up on and no message.aborted is sent.
    rejoin = b.get(f"/messages/{start['message_id']}/stream?offset=1", stream=True)
    assert rejoin.status_code == 200
    joined = read_ndjson(rejoin)
    assert next(joined) == start
    release.set()
    rest = list(joined)
    contract.validate_stream(rest)
    assert rest[-1]["type"] == "complete"
    text = first["chunk"]["content"] + "".join(e["chunk"]["content"] for e in rest if e["type"] == "chunk")
    assert text == "one two three "
    assert stored(a, start["message_id"])["content"] == [{"type": "text", "text": text}]
    assert backend.events("message.aborted") == [] and backend.closed_connections == []
    # After the end, a rejoin from any offset is a replay.
    replay = list(read_ndjson_text(a.get(f"/messages/{start['message_id']}/stream?offset=2").text))
    assert [e["type"] for e in replay] == ["start", "chunk", "complete"]
    assert replay[1]["chunk"]["content"] == "three "


def test_a_disconnect_still_cancels_a_reply_that_is_not_resumable(two, backend, session_type):
    a, _ = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "hi"})
    start = next(events)
    response.close()
    backend.wait_for("message.aborted")
    release.set()
    assert stored(a, start["message_id"])["metadata"]["stop_reason"] == "cancelled"


def test_stop_from_the_other_instance(two, backend, session_type, contract):
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "hi", "resumable": True})
    start, first = next(events), next(events)
    assert first["chunk"]["content"] == "one "
    stopped = b.post(f"/messages/{start['message_id']}/stop")
    assert stopped.status_code == 200
    contract.validate(stopped.json(), "StopResult")
    assert stopped.json()["stopped"] is True
    assert stopped.json()["message"]["metadata"]["stop_reason"] == "cancelled"
    assert list(events)[-1]["type"] == "error"
    assert backend.wait_for("message.aborted")[0]["message_id"] == start["message_id"]
    message = stored(b, start["message_id"])
    assert message["is_complete"] is False and message["content"] == [{"type": "text", "text": "one "}]
    release.set()
    # Nothing in flight any more: a second stop changes nothing, and the session takes new messages.
    assert b.post(f"/messages/{start['message_id']}/stop").json()["stopped"] is False
    backend.handlers.clear()
    assert a.send(session_id, "next").types[-1] == "complete"


def test_rejoin_and_stop_are_owner_only(two, backend, session_type):
    a, b = two
    session_id = a.create_session(session_type)
    reply = a.send(session_id, "hi")
    stranger = Api(b.base, "stranger")
    assert stranger.get(f"/messages/{reply.message_id}/stream").status_code == 404
    assert stranger.post(f"/messages/{reply.message_id}/stop").status_code == 404
    assert a.get(f"/messages/{reply.user_message_id}/stream").status_code == 400


def test_a_killed_instance_s_reply_is_interrupted_and_a_rejoiner_told(start_engine, api, backend, session_type):
    doomed = start_engine(WEB_CONCURRENCY=1, LEASE_SECONDS=2, CHUNK_FLUSH_SECONDS=0.05)
    survivor = Api(start_engine(LEASE_SECONDS=2).url, api.client_id)
    release = held_backend(backend)
    session_id = api.create_session(session_type)
    response, events = open_send(Api(doomed.url, api.client_id), {"session_id": session_id, "content": "hi"})
    start = next(events)
    next(events)
    rejoin = survivor.get(f"/messages/{start['message_id']}/stream", stream=True)
    joined = read_ndjson(rejoin)
    assert next(joined)["type"] == "start"
    assert next(joined)["chunk"]["content"] == "one "  # the flushed chunk, read from PostgreSQL
    killed_at = time.monotonic()
    doomed.kill()
    last = list(joined)[-1]
    assert last["type"] == "error" and time.monotonic() - killed_at < 10
    message = stored(survivor, start["message_id"])
    assert message["metadata"]["stop_reason"] == "interrupted"
    assert message["content"] == [{"type": "text", "text": "one "}]
    release.set()
    backend.handlers.clear()
    assert survivor.send(session_id, "again").types[-1] == "complete"


def read_ndjson_text(text):
    import json

    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_rejoiner_sees_chunks_while_the_reply_still_streams(two, backend, session_type):
    """A rejoiner on B sees A's chunks as they are stored, not only at the end."""
    a, b = two
    release = held_backend(backend)
    session_id = a.create_session(session_type)
    response, events = open_send(a, {"session_id": session_id, "content": "hi"})
    start = next(events)
    joined = read_ndjson(b.get(f"/messages/{start['message_id']}/stream", stream=True))
    next(joined)
    assert next(joined)["chunk"]["content"] == "one "  # before the reply ends
    release.set()
    assert [e["type"] for e in joined][-1] == "complete"
    assert [e["type"] for e in events][-1] == "complete"


def test_the_listening_connection_comes_back_after_the_database_drops_it(start_engine, api, db, backend,
                                                                          session_type):
    """One LISTEN connection per worker; killed by the server (as in a restart), it is re-established."""
    server = start_engine(WEB_CONCURRENCY=2)
    client = Api(server.url, api.client_id)

    def listeners():
        return db.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'chat-engine-listener'"
                          ).fetchall()
    wait_until(lambda: len(listeners()) >= 2, timeout=10, message="a listener per worker")
    before = {row["pid"] for row in listeners()}
    for pid in before:
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(lambda: len({row["pid"] for row in listeners()} - before) >= 2, timeout=15,
               message="listeners re-established")
    # Wake-ups flow again: a stop through the new listener ends a reply at once.
    release = held_backend(backend)
    session_id = client.create_session(session_type)
    response, events = open_send(client, {"session_id": session_id, "content": "hi"})
    start = next(events)
    next(events)
    assert client.post(f"/messages/{start['message_id']}/stop").json()["stopped"] is True
    assert list(events)[-1]["type"] == "error"
    release.set()


def test_a_retried_recreate_replays_on_the_other_instance(two, backend, session_type):
    a, b = two
    session_id = a.create_session(session_type)
    original = a.send(session_id, "hi").message_id
    headers = {"Idempotency-Key": "recreate-1"}
    first = a.call("POST", f"/messages/{original}/recreate", json={}, headers=headers)
    again = b.call("POST", f"/messages/{original}/recreate", json={}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert read_ndjson_text(again.text)[0] == read_ndjson_text(first.text)[0]
    assert len(backend.events("message.recreate")) == 1
    assert len(a.get(f"/messages/{original}/variants").json()["variants"]) == 2


def test_a_slow_client_of_a_resumable_reply_is_dropped_and_the_reply_runs_on(start_engine, api, backend,
                                                                            make_session_type):
    server = start_engine(STREAM_BUFFER_LIMIT_BYTES=65536)
    client = Api(server.url, api.client_id)
    piece = "z" * 65536
    backend.on("message.new", lambda e, env: stream_answer(
        iter([*(ndjson(chunk(piece)) for _ in range(40)), ndjson(complete())])))
    session_id = client.create_session(make_session_type(backend))
    response = client.open_stream("/messages/send", {"session_id": session_id, "content": "flood", "resumable": True})
    response.raw.read1(100)  # then stop reading, connection still open
    message_id = response.headers["X-Assistant-Message-Id"]
    wait_until(lambda: client.get(f"/messages/{message_id}").json()["is_complete"], timeout=30,
               message="the reply stored complete although its client stalled")
    replay = read_ndjson_text(client.get(f"/messages/{message_id}/stream").text)
    assert "".join(e["chunk"]["content"] for e in replay if e["type"] == "chunk") == piece * 40
    assert backend.events("message.aborted") == []
    response.close()


def test_a_stop_aimed_at_a_frozen_instance_is_carried_out_by_the_asking_one(start_engine, api, backend,
                                                                            session_type, db):
    """A's worker is frozen (SIGSTOP): B waits STOP_WAIT_SECONDS, ends the reply itself and tells the
    backend. When A thaws, its relay finds the reply ended and stores nothing over it."""
    import os
    import signal

    frozen = start_engine(WEB_CONCURRENCY=1, LEASE_SECONDS=30, CHUNK_FLUSH_SECONDS=0.05)
    b = Api(start_engine(STOP_WAIT_SECONDS=1).url, api.client_id)
    release = held_backend(backend)
    session_id = api.create_session(session_type)
    response, events = open_send(Api(frozen.url, api.client_id), {"session_id": session_id, "content": "hi"})
    start = next(events)
    next(events)
    stored_chunks = "SELECT count(*) AS n FROM reply_chunks WHERE message_id = %s"
    wait_until(lambda: db.execute(stored_chunks, (start["message_id"].split("~")[1],)).fetchone()["n"],
               timeout=5, message="the first chunk stored")
    (worker,) = frozen.worker_pids()
    os.kill(worker, signal.SIGSTOP)
    try:
        stopped = b.post(f"/messages/{start['message_id']}/stop").json()
        assert stopped["stopped"] is True
        assert stopped["message"]["metadata"]["stop_reason"] == "cancelled"
        assert stopped["message"]["content"] == [{"type": "text", "text": "one "}]
        aborted = backend.wait_for("message.aborted")[0]
        assert aborted["message_id"] == start["message_id"]
    finally:
        os.kill(worker, signal.SIGCONT)
    release.set()
    list(events)
    assert b.get(f"/messages/{start['message_id']}").json()["content"] == [{"type": "text", "text": "one "}]


def test_chunks_stored_only_with_the_end_still_rejoin_exactly(start_engine, api, backend, session_type, db):
    server = start_engine(CHUNK_LOG="end")
    client = Api(server.url, api.client_id)
    release = held_backend(backend)
    session_id = client.create_session(session_type)
    response, events = open_send(client, {"session_id": session_id, "content": "hi", "resumable": True})
    start = next(events)
    next(events)
    joined = read_ndjson(client.get(f"/messages/{start['message_id']}/stream?offset=1", stream=True))
    assert next(joined)["type"] == "start"
    release.set()
    rest = list(joined)
    assert [e["chunk"]["content"] for e in rest if e["type"] == "chunk"] == ["two ", "three "]
    assert rest[-1]["type"] == "complete"
    assert db.execute("SELECT count(*) AS n FROM reply_chunks").fetchone()["n"] == 1  # one batch: the end


def _notices_until_marker(listener, sender):
    """Every notice queued before a marker sent now (notices arrive in commit order)."""
    sender.execute("NOTIFY chat_engine_replies, 'test-marker'")
    heard = []
    for notice in listener.notifies(timeout=10):
        if notice.payload == "test-marker":
            return heard
        heard.append(notice.payload)
    raise AssertionError("the marker notice never arrived")


def test_ends_and_chunk_batches_are_announced_only_for_replies_someone_waits_on(
        start_engine, api, backend, session_type, database_url):
    """Each notice wakes every listening worker: a reply nobody rejoins or stops announces nothing."""
    engine = start_engine(CHUNK_FLUSH_SECONDS="0.05")
    client = Api(engine.url, api.client_id)
    with psycopg.connect(database_url, autocommit=True) as listener, \
            psycopg.connect(database_url, autocommit=True) as sender:
        listener.execute("LISTEN chat_engine_replies")
        session_id = client.create_session(session_type)
        alone = client.send(session_id, "nobody watches this one")
        assert alone.types[-1] == "complete"
        unwatched = alone.message_id.split("~")[1]
        assert [n for n in _notices_until_marker(listener, sender) if n.startswith(unwatched)] == []

        release = held_backend(backend)
        response, events = open_send(client, {"session_id": session_id, "content": "this one is rejoined"})
        reply_id = next(events)["message_id"]
        joined = read_ndjson(client.get(f"/messages/{reply_id}/stream", stream=True))
        assert next(joined)["type"] == "start"
        assert next(joined)["chunk"]["content"] == "one "
        release.set()
        assert [e["type"] for e in joined][-1] == "complete"
        assert [e["type"] for e in events][-1] == "complete"
        announced = {n.split(":", 1)[1] for n in _notices_until_marker(listener, sender)
                     if n.startswith(reply_id.split("~")[1])}
        assert "end" in announced

"""A dead instance's replies are ended in seconds, not a lease: each worker holds an
advisory lock on its LISTEN connection and its pooled connections, its live rows name it
(sql/migrations/012_reply_owners.sql), and a send that finds such a reply in its way ends it at once
when the lock is gone."""
import time

from app.config import Config
from support.backends import chunk, complete, gate, ndjson, stream_answer
from support.engine import Api, read_ndjson
from support.owner_locks import holders
from support.waiting import wait_until


def held_backend(backend):
    release = gate()

    def answer(event, environ):
        def body():
            yield ndjson(chunk("one "))
            release.wait()
            yield ndjson(complete())
        return stream_answer(body())
    backend.on("message.new", answer)
    return release


def test_a_send_after_an_instance_is_killed_mid_reply_is_accepted_within_seconds(start_engine, api, backend,
                                                                                 session_type, db):
    # Leases far longer than the bound: only the dead owner's lock can free the session in time.
    survivor = Api(start_engine(LEASE_SECONDS=60).url, api.client_id)
    # Nobody is judged dead until the workers attached to the server have been for OWNER_SETTLE_SECONDS (a
    # fleet that has only just started, or just reconnected after a failover): a fleet that has run a while.
    wait_until(lambda: db.execute("SELECT live_reply_owner_keys(%s) IS NOT NULL AS settled",
                                  (Config().owner_settle_seconds,)).fetchone()["settled"],
               timeout=30, message="the surviving instance settled")
    doomed = start_engine(WEB_CONCURRENCY=2, LEASE_SECONDS=60, CHUNK_FLUSH_SECONDS=0.05)
    release = held_backend(backend)
    session_id = api.create_session(session_type)
    response = Api(doomed.url, api.client_id).call("POST", "/messages/send", stream=True,
                                                   json={"session_id": session_id, "content": "hi"})
    events = read_ndjson(response)
    start = next(events)
    assert next(events)["type"] == "chunk"
    wait_until(lambda: db.execute("SELECT count(*) AS n FROM reply_chunks").fetchone()["n"] == 1,
               message="the first chunk stored")
    row = db.execute("SELECT owner_key FROM live_replies").fetchone()
    assert row["owner_key"] is not None and holders(db, row["owner_key"]) >= 1
    # Before the kill the owner is alive: the default if_busy is still refused.
    busy = survivor.post("/messages/send", json={"session_id": session_id, "content": "too soon"})
    assert busy.status_code == 409
    doomed.kill()
    killed_at = time.monotonic()
    accepted = []

    def send_accepted():
        result = survivor.post("/messages/send", json={"session_id": session_id, "content": "after the kill"})
        if result.status_code == 200:
            accepted.append(time.monotonic() - killed_at)
            return True
        assert result.status_code == 409, result.text
        return False
    backend.handlers.clear()
    wait_until(send_accepted, timeout=10, message="a send accepted after the kill")
    release.set()
    assert accepted[0] < 3, accepted
    old = survivor.get(f"/messages/{start['message_id']}").json()
    assert old["metadata"]["stop_reason"] == "interrupted" and old["content"] == [{"type": "text", "text": "one "}]


def test_a_live_worker_s_reply_is_not_ended_by_the_owner_check(start_engine, api, backend, session_type, db):
    first = start_engine(LEASE_SECONDS=60)
    other = Api(start_engine(LEASE_SECONDS=60).url, api.client_id)
    release = held_backend(backend)
    session_id = api.create_session(session_type)
    response = Api(first.url, api.client_id).call("POST", "/messages/send", stream=True,
                                                  json={"session_id": session_id, "content": "hi"})
    events = read_ndjson(response)
    next(events)
    next(events)
    started = db.execute("SELECT started_at FROM live_replies").fetchone()["started_at"]
    wait_until(lambda: db.execute("SELECT clock_timestamp() - %s > interval '1.5 seconds' AS old",
                                  (started,)).fetchone()["old"], timeout=5, message="the reply is past its grace")
    assert other.post("/messages/send", json={"session_id": session_id, "content": "no"}).status_code == 409
    release.set()
    assert list(events)[-1]["type"] == "complete"

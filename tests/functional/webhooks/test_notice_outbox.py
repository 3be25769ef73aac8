"""Backend notices that are never dropped (app/webhooks/outbox.py): written with the change they tell of,
retried with backoff under one event id, delivered by whichever instance is alive, dead-lettered past the
bound; a worker killed mid-delivery, or a backend down for ten minutes, loses none.

Test engines retry notices quickly (support.engine.EngineProcess); the default backoff is tested in
tests/unit/webhooks/test_outbox.py."""
import json
import uuid

import pytest
import requests

from app import ids
from app.webhooks import signing
from support.backends import Backend, gate, json_answer
from support.engine import Api, expect
from support.waiting import wait_until

EVENT_ID = "X-Chat-Engine-Event-Id"


def signed_type(admin, backend):
    """A session type on `backend`; returns (its id, its signing secret)."""
    body = expect(admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:8]}",
                                                           "webhook_url": backend.url}), 201).json()
    return body["session_type_id"], body["webhook_secret"]


def notice_requests(backend, event):
    return [(headers, raw) for name, headers, raw in backend.requests if name == event]


def outbox_rows(db):
    return db.execute("SELECT event, attempts, dead_at, last_error FROM webhook_notices").fetchall()


def metric(engines, name, **labels):
    """The sum over `engines`: every running instance delivers notices, the session's shared one too."""
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    total = 0.0
    for engine in engines:
        text = expect(requests.get(engine.url + "/metrics", timeout=10), 200).text
        total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(wanted))
    return total


def test_a_failed_notice_is_tried_again_with_the_same_event_id_and_body_each_signed(
        start_engine, engine_process, backend, db):
    engine = start_engine()
    engines = (engine, engine_process)
    counted_before = {result: metric(engines, "chat_engine_notices_total", event="session.deleted", result=result)
                      for result in ("retried", "delivered")}  # the shared engine has counted earlier tests'
    api = Api(engine.url, client_id="outbox-owner")
    type_id, secret = signed_type(Api(engine.url, client_id="operator", admin=True), backend)
    refusals = iter(range(3))
    backend.on("session.deleted",
               lambda e, env: json_answer({}, "503 Service Unavailable") if next(refusals, None) is not None
               else json_answer({}))
    session_id = api.create_session(type_id)
    assert api.call("DELETE", f"/sessions/{session_id}").status_code == 200

    wait_until(lambda: len(notice_requests(backend, "session.deleted")) == 4, timeout=15,
               message="three refusals, then the delivery")
    attempts = notice_requests(backend, "session.deleted")
    assert len({headers[EVENT_ID] for headers, _ in attempts}) == 1
    uuid.UUID(attempts[0][0][EVENT_ID])
    assert len({raw for _, raw in attempts}) == 1 and json.loads(attempts[0][1])["session_id"] == session_id
    for headers, raw in attempts:
        assert signing.verify(secret, headers["X-Chat-Engine-Timestamp"], headers["X-Chat-Engine-Signature"], raw)
    wait_until(lambda: outbox_rows(db) == [], message="the delivered notice removed")
    for result, added in (("retried", 3), ("delivered", 1)):
        counted = metric(engines, "chat_engine_notices_total", event="session.deleted", result=result)
        assert counted - counted_before[result] == added, result


def test_a_backend_down_for_ten_minutes_gets_every_notice_once_it_is_back(start_engine, db):
    """Reactions and deletions while the backend refuses connections; the notices are made ten minutes
    old (within NOTICE_RETRY_HOURS) and more are written than the old per-worker cap of 1,000."""
    backend = Backend()
    engine = start_engine(WEB_CONCURRENCY=2)
    admin = Api(engine.url, client_id="operator", admin=True)
    api = Api(engine.url, client_id="outbox-reactor")
    type_id, _ = signed_type(admin, backend)
    session_id = api.create_session(type_id)
    reply = api.send(session_id, "hi")
    doomed = api.create_session(type_id)
    port = backend.port
    backend.stop()

    assert api.post(f"/messages/{reply.message_id}/reaction", json={"reaction_type": "like"}).status_code == 200
    assert api.call("DELETE", f"/sessions/{doomed}").status_code == 200
    db.execute("""INSERT INTO webhook_notices (event_id, session_type_id, event, body)
                  SELECT gen_random_uuid(), %s, 'session.deleted',
                         json_build_object('event', 'session.deleted', 'session_id', 'bulk-' || n,
                                           'timestamp', now())::text
                    FROM generate_series(1, 1200) n""", (type_id,))
    wait_until(lambda: db.execute("SELECT min(attempts) AS n FROM webhook_notices").fetchone()["n"] >= 2,
               timeout=30, message="every notice tried and refused")
    db.execute("UPDATE webhook_notices SET created_at = created_at - interval '10 minutes'")

    back = Backend(port=port)
    try:
        wait_until(lambda: outbox_rows(db) == [], timeout=60, message="the outbox emptied")
        assert len(back.events("message.reaction")) == 1
        assert back.events("message.reaction")[0]["reaction_type"] == "like"
        deleted = {e["session_id"] for e in back.events("session.deleted")}
        assert doomed in deleted and len(deleted) == 1201
    finally:
        back.stop()


def test_past_the_bound_a_notice_becomes_a_dead_letter_counted_in_metrics(start_engine, engine_process, backend, db):
    engine = start_engine()
    dead_before = metric((engine, engine_process), "chat_engine_notices_total", event="session.deleted",
                         result="dead_lettered")
    api = Api(engine.url, client_id="outbox-dead")
    type_id, _ = signed_type(Api(engine.url, client_id="operator", admin=True), backend)
    backend.on("session.deleted", lambda e, env: json_answer({}, "500 Internal Server Error"))
    session_id = api.create_session(type_id)
    assert api.call("DELETE", f"/sessions/{session_id}").status_code == 200
    wait_until(lambda: notice_requests(backend, "session.deleted"), message="a first attempt")
    # A day and an hour old: past the default NOTICE_RETRY_HOURS (24) of every instance that may try it.
    db.execute("UPDATE webhook_notices SET created_at = created_at - interval '25 hours'")

    (row,) = wait_until(lambda: [r for r in outbox_rows(db) if r["dead_at"] is not None], timeout=15,
                        message="a dead letter")
    assert row["event"] == "session.deleted" and row["last_error"] == "BACKEND_ERROR"
    assert row["attempts"] == len(notice_requests(backend, "session.deleted")) >= 2
    wait_until(lambda: metric([engine], "chat_engine_notice_outbox", state="dead") == 1, timeout=20,
               message="the dead-letter gauge")
    assert metric((engine, engine_process), "chat_engine_notices_total", event="session.deleted",
                  result="dead_lettered") - dead_before == 1


def test_a_notice_whose_worker_is_killed_mid_delivery_is_delivered_by_another_instance(
        start_engine, backend, db):
    first = start_engine(NOTICE_TIMEOUT_SECONDS="3")
    api = Api(first.url, client_id="outbox-killed")
    type_id, _ = signed_type(Api(first.url, client_id="operator", admin=True), backend)
    hung = gate()
    calls = []

    def hang_first(event, environ):
        calls.append(environ[f"HTTP_{EVENT_ID.upper().replace('-', '_')}"])
        if len(calls) == 1:
            hung.wait()
        return json_answer({})
    backend.on("session.deleted", hang_first)
    session_id = api.create_session(type_id)
    assert api.call("DELETE", f"/sessions/{session_id}").status_code == 200
    wait_until(lambda: calls, message="the first attempt under way")

    first.kill()  # mid-attempt: the row is claimed, nothing was recorded
    hung.set()
    second = start_engine(NOTICE_TIMEOUT_SECONDS="3")
    wait_until(lambda: len(calls) == 2 and outbox_rows(db) == [], timeout=20,
               message="the notice delivered by the second instance")
    assert calls[0] == calls[1]
    assert second.process.poll() is None


@pytest.mark.parametrize("kind", ["reaction", "deletion"])
def test_a_change_that_is_refused_writes_no_notice(api, session_type, backend, db, kind):
    session_id = api.create_session(session_type)
    if kind == "reaction":
        missing = ids.message_gts(uuid.uuid4())
        assert api.post(f"/messages/{missing}/reaction", json={"reaction_type": "like"}).status_code == 404
    else:
        other = api.as_client("someone-else")
        assert other.call("DELETE", f"/sessions/{session_id}").status_code == 404
    assert outbox_rows(db) == []

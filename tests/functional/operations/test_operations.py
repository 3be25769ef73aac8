"""Operating the engine: load shedding, slow clients, database outages, metrics, logs, shutdown."""
import json
import signal
import uuid

import pytest
import requests

from app import migrations
from launch.embedded_postgres import EmbeddedPostgres
from support.backends import Backend, chunk, gate, ndjson, stream_answer, words_answer
from support.engine import Api, EngineProcess, read_ndjson
from support.waiting import wait_until


def test_stream_cap_answers_503_before_storing_anything(start_engine, backend, make_session_type, contract):
    engine_process = start_engine(MAX_STREAMS_PER_WORKER=1)
    api = Api(engine_process.url, "capped")
    release = gate()
    backend.on("message.new", lambda e, env: words_answer(["a", "b"], gate=release, after=1))
    session_type = make_session_type(backend)
    busy, other = api.create_session(session_type), api.create_session(session_type)
    response = api.open_stream("/messages/send", {"session_id": busy, "content": "x"})
    events = read_ndjson(response)
    next(events), next(events)

    refused = api.post("/messages/send", json={"session_id": other, "content": "y"})
    body = contract.validate_error(refused, 503, "RATE_LIMIT_EXCEEDED")
    assert refused.headers["Retry-After"] == "1" and body["details"]["limit_type"] == "concurrent"
    assert api.path(other) == []

    release.set()
    assert [e["type"] for e in events][-1] == "complete"
    assert api.send(other, "now there is room").types[-1] == "complete"


def test_slow_client_is_cut_when_its_buffer_passes_the_limit(start_engine, backend, make_session_type):
    engine_process = start_engine(STREAM_BUFFER_LIMIT_BYTES=65536, MAX_REPLY_BYTES=200_000_000)
    api = Api(engine_process.url, "slow-reader")
    piece = ndjson(chunk("y" * 65536))
    backend.on("message.new", lambda e, env: stream_answer(piece for _ in range(600)))  # ~40 MB
    session_id = api.create_session(make_session_type(backend))
    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "flood me"})
    response.raw.read1(100)  # then stop reading, connection still open
    aborted = backend.wait_for("message.aborted", timeout=30)[0]
    response.close()
    assistant = Api(engine_process.url, "slow-reader").get(f"/messages/{aborted['message_id']}").json()
    assert assistant["is_complete"] is False and assistant["metadata"]["stop_reason"] == "cancelled"
    assert 0 < len(assistant["content"][0]["text"]) < 600 * 65536


@pytest.fixture
def own_postgres():
    # Durable settings: an immediate stop must not lose what was acknowledged.
    server = EmbeddedPostgres(fast_unsafe=False).start()
    migrations.upgrade(server.url)
    yield server
    server.destroy()


def test_database_outage_gives_503_then_recovers_without_restart(own_postgres, contract):
    backend = Backend()
    engine_process = EngineProcess(own_postgres.url, DB_POOL_TIMEOUT_SECONDS=3)
    try:
        admin = Api(engine_process.url, "ops", admin=True)
        type_id = admin.post("/admin/session-types", json={"name": "outage", "webhook_url": backend.url}) \
            .json()["session_type_id"]
        api = Api(engine_process.url, "outage-client")
        session_id = api.create_session(type_id)
        assert api.send(session_id, "before").types[-1] == "complete"

        own_postgres.stop(mode="immediate")
        for _ in range(3):
            contract.validate_error(api.get(f"/sessions/{session_id}"), 503, "INTERNAL_ERROR")
        refused = api.post("/messages/send", json={"session_id": session_id, "content": "during"})
        contract.validate_error(refused, 503, "INTERNAL_ERROR")
        assert refused.headers["Retry-After"]
        assert requests.get(engine_process.url + "/health/ready", timeout=10).status_code == 503
        assert requests.get(engine_process.url + "/health/live", timeout=10).status_code == 200

        own_postgres.start()
        wait_until(lambda: requests.get(engine_process.url + "/health/ready", timeout=10).status_code == 200,
                   timeout=60, message="readiness after the database returned")
        wait_until(lambda: api.get(f"/sessions/{session_id}").status_code == 200, timeout=30,
                   message="requests served again")
        assert api.send(session_id, "after").types[-1] == "complete"
        assert engine_process.process.poll() is None  # the same process, never restarted
    finally:
        engine_process.stop()
        backend.stop()


def test_metrics_expose_the_named_series(engine_process, api, session_type):
    session_id = api.create_session(session_type)
    api.send(session_id, "measure me")
    text = requests.get(engine_process.url + "/metrics", timeout=10).text
    for series in ('chat_engine_http_request_duration_seconds_bucket{endpoint="/api/v1/sessions"',
                   "chat_engine_routing_overhead_seconds_count",
                   "chat_engine_time_to_first_chunk_seconds_count",
                   "chat_engine_active_streams",
                   f'chat_engine_webhook_calls_total{{event="message.new",outcome="ok",session_type="{session_type}"}}',
                   f'chat_engine_breaker_state{{session_type="{session_type}"}}',
                   'chat_engine_replies_ended_total{reason="complete"}',
                   "chat_engine_db_pool_size", "chat_engine_db_pool_waiting"):
        assert series in text, series


def test_logs_are_json_with_trace_ids_and_without_message_contents(start_engine, backend, make_session_type):
    engine_process = start_engine(LOG_LEVEL="INFO")
    api = Api(engine_process.url, "logged")
    secret = f"confidential-{uuid.uuid4().hex}"
    session_id = api.create_session(make_session_type(backend))
    assert api.send(session_id, secret).types[-1] == "complete"
    trace_id = api.get("/sessions/not-an-id").json()["details"]["trace_id"]
    backend.on("message.new", lambda e, env: ("500 Oops", [("Content-Type", "text/plain")], [b"x"]))
    stream_trace_id = api.send(session_id, "fails").events[-1]["details"]["trace_id"]
    engine_process.stop()
    with open(engine_process.log_path) as handle:
        app_lines = [json.loads(line) for line in handle if line.startswith("{")]
    assert app_lines, "no JSON log lines"
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in app_lines)
    assert secret not in json.dumps(app_lines)
    with open(engine_process.log_path) as handle:
        assert secret not in handle.read()
    # The trace id a client sees finds its request, and its stream's failure, in the logs.
    access = [e for e in app_lines if e.get("trace_id") == trace_id]
    assert access and access[0]["status"] == 400 and access[0]["request_id"]
    failure = [e for e in app_lines if e.get("trace_id") == stream_trace_id and e["level"] == "WARNING"]
    assert failure and "message.new" in failure[0]["message"]


def test_sigterm_past_the_grace_period_saves_partial_and_tells_client(start_engine, backend, make_session_type,
                                                                       contract):
    engine_process = start_engine(GRACEFUL_TIMEOUT=6, STREAM_GRACE_SECONDS=1)
    api = Api(engine_process.url, "shutdown")
    never = gate()
    backend.on("message.new", lambda e, env: words_answer(["kept", " lost"], gate=never, after=1))
    session_id = api.create_session(make_session_type(backend))
    response = api.open_stream("/messages/send", {"session_id": session_id, "content": "x"})
    events = read_ndjson(response)
    start, first = next(events), next(events)
    assert first["chunk"]["content"] == "kept"
    engine_process.process.send_signal(signal.SIGTERM)
    rest = list(events)
    contract.validate_stream(rest)
    assert [e["type"] for e in rest] == ["error"] and rest[0]["error_code"] == "INTERNAL_ERROR"
    aborted = backend.wait_for("message.aborted")[0]
    assert aborted["partial_content"] == [{"type": "text", "text": "kept"}]
    engine_process.process.wait(timeout=15)
    never.set()

    survivor = Api(start_engine().url, "shutdown")
    assistant = survivor.get(f"/messages/{start['message_id']}").json()
    assert assistant["content"] == [{"type": "text", "text": "kept"}] and assistant["is_complete"] is False
    assert assistant["metadata"]["stop_reason"] == "shutdown"

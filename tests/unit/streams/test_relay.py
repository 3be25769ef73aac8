"""app/streams/relay.py in-process: a real backend on a loopback port, the relay's generator consumed as
the WSGI server would, both transactions on the real database inside the test's rolled-back one."""
import json
import uuid
from types import SimpleNamespace

import pytest
from psycopg.types.json import Jsonb

from app.chat import messages, session_types
from app.db import queries as q
from app.metrics import get_metrics
from app.streams.leases import LeaseKeeper
from app.streams.relay import Relay
from app.streams.slots import StreamSlots
from support.backends import chunk, complete, ndjson, stream_answer
from support.inprocess import make_config
from unit.chat.conftest import CAPABILITIES
from unit.streams.test_live import send


@pytest.fixture
def relay_of(conn, database, webhooks, caller, backend):
    """(relay, its stream slots) for a send of "hi" in a fresh session whose backend is `backend`."""
    config = make_config(chunk_flush_seconds=0.01)
    type_row = session_types.create(database, {"name": f"t_{uuid.uuid4().hex[:10]}", "webhook_url": backend.url})
    session_id = q.insert_session(conn, id=uuid.uuid4(), client_id=caller.client_id, session_type_id=type_row["id"],
                                  capabilities=Jsonb(CAPABILITIES), metadata=Jsonb({}))["id"]
    leases = LeaseKeeper(database, config)
    slots = StreamSlots(limit=10, per_client=10)

    def make():
        exchange = send(database, webhooks, caller, session_id, "hi")
        services = SimpleNamespace(config=config, db=database, metrics=get_metrics(), signals=None, leases=leases)
        return Relay(exchange, services, {}, slots.open(caller.client_id)), slots
    yield make
    leases.stop()


def lines_of(relay):
    try:
        return [json.loads(line) for line in b"".join(relay.lines()).splitlines()]
    finally:
        relay.close()


def test_a_reply_is_relayed_chunk_by_chunk_then_stored_and_its_slot_given_back(relay_of, backend, database, caller):
    backend.on("message.new", lambda event, environ: stream_answer(
        [ndjson(chunk("Hel")), ndjson(chunk("lo")), ndjson(complete())]))
    relay, slots = relay_of()
    events = lines_of(relay)
    assert [e["type"] for e in events] == ["start", "chunk", "chunk", "complete"]
    assert [e["chunk"]["content"] for e in events[1:3]] == ["Hel", "lo"]
    stored = messages.get_message(database, caller, relay.message_id)
    assert stored["is_complete"] and stored["content"] == [{"type": "text", "text": "Hello"}]
    assert slots.active == 0 and slots.held_by(caller.client_id) == 0
    assert backend.received[-1]["event"] == "message.new"


def test_a_backend_that_breaks_mid_stream_leaves_the_partial_reply_with_its_reason(relay_of, backend, database,
                                                                                  caller):
    backend.on("message.new", lambda event, environ: stream_answer([ndjson(chunk("par")), b"{not json\n"]))
    relay, slots = relay_of()
    events = lines_of(relay)
    assert [e["type"] for e in events] == ["start", "chunk", "error"]
    assert events[-1]["error_code"] == "BACKEND_ERROR"
    stored = messages.get_message(database, caller, relay.message_id)
    assert stored["is_complete"] is False and stored["metadata"]["stop_reason"] == "backend_error"
    assert stored["content"] == [{"type": "text", "text": "par"}]
    assert slots.active == 0

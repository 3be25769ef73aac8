"""The engine on a real HA PostgreSQL, the primary SIGKILLed under streamed load.

pg_auto_failover (Debian's packages, installed with apt-get when missing: loadtests/ha.py) runs a
monitor, a primary and a synchronous standby on loopback; the engine (real gunicorn) has
DATABASE_URL = both nodes with target_session_attrs=read-write. Client greenlets stream sends in a
loop (loadtests/failover.py's StreamedLoad, through tests/support's Api so every request is checked
against the OpenAPI document) while the primary's node is SIGKILLed. Afterwards, on the new primary:
no acknowledged reply is lost, every reply in flight at the kill is stored complete or has a
stop_reason, the tree invariants hold, and sends succeed again within 5 s of the promotion.
"""
import json
import tempfile
import uuid

import gevent
import pytest

from app import migrations
from loadtests import ha
from loadtests.failover import BOUND_SECONDS, StreamedLoad, kill_under_load, outcome_of_run, settle
from support.backends import Backend, chunk, complete, ndjson, stream_answer
from support.engine import Api, EngineProcess, close_clients, expect

pytestmark = pytest.mark.slow

CLIENTS = 6
WORDS = 6
WORD_DELAY = 0.05  # a reply streams for about 0.3 s: several are always in flight
LEASE_SECONDS = 4  # a reply whose save failed is swept as interrupted within 6 s


@pytest.fixture(scope="module")
def ha_cluster():
    try:
        ha.ensure_installed(say=lambda message: None)
    except ha.HaUnavailable as exc:
        pytest.skip(f"pg_auto_failover is unavailable: {exc}")
    cluster = ha.HaCluster.up(tempfile.mkdtemp(prefix="chat-engine-ha-"), fast_unsafe=True, say=lambda m: None)
    yield cluster
    cluster.down()


@pytest.fixture(scope="module")
def ha_engine(ha_cluster):
    migrations.upgrade(ha_cluster.database_url)
    server = EngineProcess(ha_cluster.database_url, LEASE_SECONDS=LEASE_SECONDS)
    yield server
    close_clients(server.url)
    server.stop()


@pytest.fixture
def streaming_backend():
    def answer(event, environ):
        def body():
            for index in range(WORDS):
                gevent.sleep(WORD_DELAY)
                yield ndjson(chunk(f"w{index} "))
            yield ndjson(complete())
        return stream_answer(body())
    server = Backend().on("message.new", answer)
    yield server
    server.stop()


def _engine_log(server, lines=60):
    with open(server.log_path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


@pytest.mark.timeout(420)
def test_a_primary_killed_under_streamed_load_loses_nothing_acknowledged(ha_cluster, ha_engine,
                                                                         streaming_backend):
    admin = Api(ha_engine.url, client_id="operator", admin=True)
    session_type = expect(admin.post("/admin/session-types", json={
        "name": f"t_{uuid.uuid4().hex[:10]}", "webhook_url": streaming_backend.url}), 201).json()["session_type_id"]
    clients = [Api(ha_engine.url, client_id=f"failover-{index}") for index in range(CLIENTS)]
    load = StreamedLoad([(api, api.create_session(session_type)) for api in clients]).start()
    try:
        failover, in_flight = kill_under_load(load, ha_cluster, "node")
        settle(load, failover["writable_at"], CLIENTS, after_seconds=30)
    finally:
        stuck = load.stop()
    outcome = outcome_of_run(load, failover, in_flight, ha_cluster.database_url,
                             fate_timeout=LEASE_SECONDS * 1.5 + 20)
    summary = json.dumps({k: v for k, v in outcome.items() if k != "checks"}, indent=1, default=str)
    print(f"{summary}\nengine log: {ha_engine.log_path}")  # the figures, for whoever reads the output (-s)
    context = f"\n{summary}\n--- engine log (tail) ---\n{_engine_log(ha_engine)}"

    assert failover["new_primary"] != failover["old_primary"], context
    assert stuck == 0, context
    # Synchronous replication: whatever a client saw acknowledged is on the standby that took over.
    assert outcome["acknowledged_lost"] == [], context
    assert outcome["acknowledged_with_other_text"] == [], context
    assert outcome["checks"]["tree"]["orphans"] == 0 and not any(outcome["checks"]["tree"].values()), context
    assert not any(outcome["checks"]["replies"].values()), context
    # A reply streaming at the kill ends stored: complete, or incomplete with the reason why.
    assert outcome["in_flight_at_kill"]["replies"] > 0, context
    unsettled = [f for f in outcome["in_flight_at_kill"]["detail"]
                 if not f["stored"] or not (f["stored"]["is_complete"] or f["stored"]["stop_reason"])]
    assert unsettled == [], context
    # New sends succeed within 5 s of the promotion (from the first write the new primary took).
    first = outcome["promotion_to_first_acknowledged_new_send_s"]
    assert first is not None and first <= BOUND_SECONDS, context
    assert outcome["failed_after_promotion_plus_bound"] == 0, context

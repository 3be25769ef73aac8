"""Read replicas: a real primary and a hot standby streaming from it on loopback (support/replica.py), three
engines (real gunicorn) reading from the standby (DATABASE_READ_URL). The standby is made to lag on purpose
(recovery_min_apply_delay), stopped and started; every read must still see what its client wrote."""
import uuid

import pytest
import requests

from app import migrations
from loadtests.replica_pair import StreamingPair
from loadtests.replica_reads import reads_counted
from support.backends import Backend, chunk, complete, ndjson, stream_answer
from support.engine import Api, EngineProcess, close_clients, expect, read_ndjson
from support.waiting import wait_until

READ_AFTER = "X-Chat-Engine-Read-After"
LONG_DELAY = 30  # seconds: a commit stays unreplayed for the whole of a test


@pytest.fixture(scope="module")
def pair():
    servers = StreamingPair()
    migrations.upgrade(servers.primary.url)
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def backend():
    server = Backend()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def engines(pair):
    """writer and reader: any staleness accepted without a token (so a replica's answer shows); strict: 1 s."""
    common = {"DATABASE_READ_URL": pair.standby.url, "READ_AFTER_WAIT_SECONDS": "2",
              "READ_REPLICA_RETRY_SECONDS": "0.3"}
    # The writer keeps no chunk logs: a rejoin of its ended replies replays the stored message.
    started = {"writer": EngineProcess(pair.primary.url, READ_MAX_LAG_SECONDS=3600, CHUNK_LOG="off", **common),
               "reader": EngineProcess(pair.primary.url, READ_MAX_LAG_SECONDS=3600, **common),
               "strict": EngineProcess(pair.primary.url, READ_MAX_LAG_SECONDS=1, **common)}
    yield started
    for server in started.values():
        close_clients(server.url)
        server.stop()


@pytest.fixture(scope="module")
def session_type(engines, backend):
    admin = Api(engines["writer"].url, client_id="operator", admin=True)
    response = admin.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:10]}",
                                                        "webhook_url": backend.url})
    return expect(response, 201).json()["session_type_id"]


@pytest.fixture
def caught_up(pair):
    """No delay, and the standby has replayed all the primary wrote."""
    pair.lag_replay_by(0)
    pair.caught_up()


def reads(engine):
    """chat_engine_reads_total of one engine (one worker, one registry): {(server, reason): count}."""
    return reads_counted(engine.url)


def more(before, after):
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


def clients(engines, name=None):
    name = name or f"rw-{uuid.uuid4().hex[:8]}"
    return {role: Api(server.url, client_id=name) for role, server in engines.items()}


def test_a_write_is_seen_by_the_next_read_through_another_instance(pair, engines, session_type, caught_up):
    api = clients(engines)
    pair.lag_replay_by(LONG_DELAY)
    before = reads(engines["reader"])

    created = expect(api["writer"].post("/sessions", json={"session_type_id": session_type}), 201)
    session_id, token = created.json()["session_id"], created.headers[READ_AFTER]
    # Without the token the reader accepts its replica, which has not replayed the create yet: bounded staleness.
    expect(api["reader"].get(f"/sessions/{session_id}"), 404)
    # With it, the read waits briefly for the replica, then the primary serves it.
    expect(api["reader"].get(f"/sessions/{session_id}", headers={READ_AFTER: token}), 200)

    sent = api["writer"].send(session_id, "hello over there")
    assert sent.types[-1] == "complete", sent.events
    reply_token = sent.events[-1]["metadata"]["read_after"]
    # A request that writes answers from the primary, token or not: here a stop (of a reply already ended) on
    # the other instance, whose answer reads the message the lagging replica does not have yet.
    stopped = expect(api["reader"].post(f"/messages/{sent.message_id}/stop"), 200).json()
    assert stopped["stopped"] is False and stopped["message"]["is_complete"] is True
    page = expect(api["reader"].get(f"/sessions/{session_id}/messages", headers={READ_AFTER: reply_token}), 200)
    assert [(m["role"], m["is_complete"]) for m in page.json()["messages"]] == [("user", True), ("assistant", True)]

    patched = expect(api["writer"].call("PATCH", f"/sessions/{session_id}", json={"metadata": {"tag": "x"}}), 200)
    session = expect(api["reader"].get(f"/sessions/{session_id}", headers={READ_AFTER: patched.headers[READ_AFTER]}),
                     200).json()
    assert session["metadata"]["tag"] == "x"
    assert not pair.replayed_past(patched.headers[READ_AFTER])  # so the primary answered, not a replica
    counted = more(before, reads(engines["reader"]))
    assert counted == {("replica", "fresh"): 1, ("primary", "behind"): 3}, counted


def test_a_token_is_served_by_a_replica_that_has_caught_up(pair, engines, session_type, caught_up):
    api = clients(engines)
    created = expect(api["writer"].post("/sessions", json={"session_type_id": session_type}), 201)
    session_id = created.json()["session_id"]
    sent = api["writer"].send(session_id, "find the word pelican")
    before = reads(engines["reader"])
    page = expect(api["reader"].get(f"/sessions/{session_id}/messages",
                                    headers={READ_AFTER: sent.events[-1]["metadata"]["read_after"]}), 200)
    assert len(page.json()["messages"]) == 2
    assert more(before, reads(engines["reader"])) == {("replica", "caught_up"): 1}


def test_reads_without_a_token_are_served_by_the_replica(pair, engines, session_type, caught_up):
    api = clients(engines)
    session_id = api["writer"].create_session(session_type)
    sent = api["writer"].send(session_id, "find the word pelican")
    reply_id = sent.message_id
    share = expect(api["writer"].post(f"/sessions/{session_id}/share", json={}), 201).json()
    building = reads(engines["writer"])
    export = expect(api["writer"].post(f"/sessions/{session_id}/export", json={"format": "json", "scope": "all"}),
                    200).json()
    # The export's tree was read on a replica that had replayed what its caps check saw.
    assert more(building, reads(engines["writer"])) == {("replica", "caught_up"): 1}
    position = pair.primary_position()
    wait_until(lambda: pair.replayed_past(position), timeout=30, message="the standby to replay the writes")
    replica_scans = _standby_scans(pair)
    before = reads(engines["reader"])

    reader = api["reader"]
    assert session_id in [s["session_id"] for s in expect(reader.get("/sessions"), 200).json()["sessions"]]
    expect(reader.get(f"/sessions/{session_id}"), 200)
    assert len(expect(reader.get(f"/sessions/{session_id}/messages"), 200).json()["messages"]) == 2
    expect(reader.get(f"/messages/{reply_id}"), 200)
    expect(reader.get(f"/messages/{reply_id}/variants"), 200)
    assert expect(reader.get(f"/sessions/{session_id}/search", params={"query": "pelican"}), 200).json()["total"] == 1
    expect(reader.get("/search", params={"query": "pelican"}), 200)
    expect(reader.get(f"/sessions/{session_id}/shares"), 200)
    expect(requests.get(engines["reader"].url + f"/api/v1/share/{share['share_token']}", timeout=10), 200)
    download = requests.get(export["download_url"].replace(engines["writer"].url, engines["reader"].url), timeout=10)
    assert expect(download, 200).json()["session"]["session_id"] == session_id
    replay = reader.get(f"/messages/{reply_id}/stream", stream=True)
    assert [e["type"] for e in read_ndjson(replay)] == ["start", "chunk", "complete"]

    counted = more(before, reads(engines["reader"]))
    # The replay: its ended reply's head on the primary (as for a live one), its stored parts on a replica.
    assert counted == {("replica", "fresh"): 10, ("replica", "caught_up"): 1}, counted
    # Counted on the standby too: its own statistics saw the reads scan its tables (flushed within seconds; the
    # engine's check and this poll scan none).
    wait_until(lambda: _standby_scans(pair) >= replica_scans + 10, timeout=30,
               message="the standby's statistics to count the reads")


def _standby_scans(pair):
    return pair.ask(pair.standby.url, "SELECT sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) AS scans "
                                      "FROM pg_stat_user_tables WHERE relname IN "
                                      "('sessions', 'messages', 'share_tokens', 'exports')")["scans"]


def test_a_replica_too_far_behind_costs_no_errors(pair, engines, session_type, caught_up):
    api = clients(engines)
    session_id = api["writer"].create_session(session_type)
    pair.lag_replay_by(LONG_DELAY)
    patched = expect(api["writer"].call("PATCH", f"/sessions/{session_id}", json={"metadata": {"v": 2}}), 200)
    wait_until(lambda: pair.replica_lag_seconds() > 1, timeout=10, message="the standby to fall a second behind")
    before = reads(engines["strict"])
    # No token: the strict engine accepts at most 1 s of staleness, so the primary answers, fresh.
    assert expect(api["strict"].get(f"/sessions/{session_id}"), 200).json()["metadata"] == {"v": 2}
    assert expect(api["strict"].get("/sessions"), 200).json()["sessions"]
    assert not pair.replayed_past(patched.headers[READ_AFTER])
    assert more(before, reads(engines["strict"])) == {("primary", "lagging"): 2}


def test_a_replica_that_is_down_costs_no_errors(pair, engines, session_type, caught_up):
    api = clients(engines)
    session_id = api["writer"].create_session(session_type)
    pair.standby.stop()
    try:
        before = reads(engines["reader"])
        created = expect(api["writer"].post("/sessions", json={"session_type_id": session_type}), 201)
        for _ in range(3):
            expect(api["reader"].get(f"/sessions/{session_id}/messages"), 200)
            expect(api["reader"].get(f"/sessions/{created.json()['session_id']}",
                                     headers={READ_AFTER: created.headers[READ_AFTER]}), 200)
        counted = more(before, reads(engines["reader"]))
        assert set(counted) == {("primary", "unavailable")} and counted[("primary", "unavailable")] == 6, counted
    finally:
        pair.standby.start()
    # Back: the replica serves again once the worker tries it.
    wait_until(lambda: reads_on_replica(api["reader"], engines["reader"], session_id), timeout=30,
               message="reads served by the replica again")


def reads_on_replica(api, engine, session_id):
    before = reads(engine).get(("replica", "fresh"), 0)
    expect(api.get(f"/sessions/{session_id}"), 200)
    return reads(engine).get(("replica", "fresh"), 0) > before


def test_a_long_ended_reply_is_replayed_from_the_replica_in_slices(pair, engines, session_type, backend, caught_up):
    words = "pelican " * 40_000  # 320 KB: more than one read, so the replay reads its part in slices
    backend.on("message.new", lambda event, environ: stream_answer(iter([ndjson(chunk(words), complete())])))
    try:
        api = clients(engines)
        session_id = api["writer"].create_session(session_type)
        reply_id = api["writer"].send(session_id, "a long one please").message_id  # stored with no chunk log
    finally:
        backend.handlers.pop("message.new")
    before = reads(engines["reader"])
    replay = api["reader"].get(f"/messages/{reply_id}/stream", stream=True)
    events = list(read_ndjson(replay))
    assert [e["type"] for e in events] == ["start", "chunk", "complete"]
    assert events[1]["chunk"]["content"] == words and events[-1]["metadata"]["read_after"]
    counted = more(before, reads(engines["reader"]))
    # The page and each slice on the replica, all with the position the reply ended at.
    assert set(counted) == {("replica", "caught_up")} and counted[("replica", "caught_up")] >= 3, counted

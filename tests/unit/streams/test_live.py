"""app/streams/live.py and the if_busy / Idempotency-Key paths (app/streams/starting.py over
app/chat/exchanges.py), in one
rolled-back transaction (no relay runs: a reply stays live until a test ends it)."""
import json
import uuid

import pytest

from app.chat import exchanges, idempotency, messages
from app.chat.replies import chunk_rows
from app.db import OWNER_LOCK_CLASS, TAKE_OWNER_LOCK, queries as q
from app.errors import ApiError
from app.metrics import get_metrics
from app.streams import live, outcomes, starting
from app.streams.chunk_log import ChunkLog
from app.streams.rejoin import Rejoin
from app.webhooks.client import WebhookClient
from support.inprocess import make_config, session_of
from support.owner_locks import holders
from support.texts import distinct_words
from support.waiting import wait_until


@pytest.fixture
def impatient():
    """A webhook client whose stops wait only briefly for the (absent) streaming instance."""
    return WebhookClient(make_config(stop_wait_seconds=0.05), get_metrics())


def send(database, webhooks, caller, session_id, content, options=None):
    """A send as the API makes it: the domain's start_send under the streaming layer's if_busy policy."""
    options = options or exchanges.Options()
    return starting.start(database, webhooks, None, options, lambda: exchanges.start_send(
        database, webhooks, caller, session_id, content, options=options))


def chunks_stored(conn, message_id, *texts):
    rows = chunk_rows(0, [{"type": "text", "content": t} for t in texts])
    q.append_reply_chunks(conn, session_id=session_of(conn, message_id), message_id=message_id, batches=rows)


def test_a_second_send_while_a_reply_is_live_is_409_with_the_reply_named(database, impatient, caller,
                                                                          make_session):
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    with pytest.raises(ApiError) as caught:
        send(database, impatient, caller, session_id, "q2")
    assert caught.value.status == 409
    assert caught.value.details["validation_errors"][0]["code"] == "reply_in_progress"
    assert caught.value.details["resource_id"] == str(first.message_id)
    assert caught.value.headers["X-In-Flight-Message-Id"].endswith(str(first.message_id))


def test_interrupt_ends_the_live_reply_as_superseded_and_continues_below_it(conn, database, impatient, caller,
                                                                            make_session):
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    chunks_stored(conn, first.message_id, "par", "tial")
    second = send(database, impatient, caller, session_id, "q2",
                                  options=exchanges.Options(if_busy="interrupt"))
    superseded = messages.get_message(database, caller, first.message_id)
    assert superseded["metadata"]["stop_reason"] == "superseded" and superseded["is_complete"] is False
    assert superseded["content"] == [{"type": "text", "text": "partial"}]
    assert json.loads(second.payload["history"])[-1]["content"] == [{"type": "text", "text": "partial"}]
    # The relay of the first reply, if it still ran somewhere, stores nothing over it, and knows it.
    assert first.save([{"type": "text", "text": "late"}], {}, outcomes.COMPLETE) is False
    assert messages.get_message(database, caller, first.message_id)["content"] == superseded["content"]


def test_the_sweep_ends_lapsed_replies_once_as_interrupted(conn, database, impatient, caller, make_session):
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    chunks_stored(conn, first.message_id, "half")
    assert live.sweep(database, judge_settle=0) == 0  # its lease runs
    conn.execute("UPDATE live_replies SET lease_expires_at = now() - interval '1 second'")
    assert live.sweep(database, judge_settle=0) == 1
    assert live.sweep(database, judge_settle=0) == 0
    row = messages.get_message(database, caller, first.message_id)
    assert row["metadata"]["stop_reason"] == "interrupted" and row["content"] == [{"type": "text", "text": "half"}]
    # Its instance was only stalled: its late save stores nothing and tells it so (no `complete` to its client).
    assert first.save([{"type": "text", "text": "half and more"}], {}, outcomes.COMPLETE) is False
    assert messages.get_message(database, caller, first.message_id)["is_complete"] is False
    second = send(database, impatient, caller, session_id, "q2")  # not busy any more
    assert second.save([{"type": "text", "text": "r2"}], {}, outcomes.COMPLETE) is True


def test_a_lapsed_reply_in_the_way_of_a_send_is_ended_at_once(conn, database, impatient, caller, make_session):
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    conn.execute("UPDATE live_replies SET lease_expires_at = now() - interval '1 second'")
    send(database, impatient, caller, session_id, "q2")
    assert messages.get_message(database, caller, first.message_id)["metadata"]["stop_reason"] == "interrupted"


def test_parallel_places_the_new_turn_below_the_live_reply(database, impatient, caller, make_session):
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    second = send(database, impatient, caller, session_id, "q2",
                                  options=exchanges.Options(if_busy="parallel"))
    user_message = messages.get_message(database, caller, second.user_message_id)
    assert user_message["parent_id"] == first.message_id


def test_an_idempotency_key_replays_and_refuses_another_body(database, impatient, caller, make_session):
    session_id = make_session()

    def claim(content):
        return idempotency.Claim(caller.client_id, "key-1", "send",
                                 {"session_id": str(session_id), "content": content}, 3600)
    first = send(database, impatient, caller, session_id, "q1",
                                 options=exchanges.Options(idempotency=claim("q1")))
    first.save([{"type": "text", "text": "a"}], {}, outcomes.COMPLETE)
    with pytest.raises(idempotency.Replayed) as again:
        send(database, impatient, caller, session_id, "q1", options=exchanges.Options(idempotency=claim("q1")))
    assert again.value.message_id == first.message_id
    assert again.value.headers["Idempotent-Replayed"] == "true"
    assert again.value.headers["X-User-Message-Id"].endswith(str(first.user_message_id))
    with pytest.raises(ApiError) as caught:
        send(database, impatient, caller, session_id, "q2",
                             options=exchanges.Options(idempotency=claim("q2")))
    assert caught.value.details["validation_errors"][0]["code"] == "idempotency_key_reused"
    assert len(messages.list_messages(database, caller, session_id)) == 2


def chunk(text):
    return {"type": "text", "content": text}


def test_batches_are_stored_in_order_and_the_unstored_rest_is_handed_over(conn, database, webhooks, caller,
                                                                         make_session):
    exchange = send(database, webhooks, caller, make_session(), "q")
    log = ChunkLog(database, exchange.session_id, exchange.message_id, interval=60)
    log.add(chunk("a"))
    log.add(chunk("b"))
    log._flush()
    log.add(chunk("c"))
    assert log.close() == (2, [chunk("c")])
    rows = conn.execute("SELECT first_index, chunks FROM reply_chunks WHERE message_id = %s",
                        (exchange.message_id,)).fetchall()
    assert rows == [{"first_index": 0, "chunks": [chunk("a"), chunk("b")]}]
    log.add(chunk("d"))
    log._flush()  # closed: nothing more is written
    exchange.save([{"type": "text", "text": "abc"}], {}, outcomes.COMPLETE, (2, [chunk("c")]))
    replay = [json.loads(line) for line in Rejoin(database, None, exchange.message_id, offset=1).lines()]
    assert [e["type"] for e in replay] == ["start", "chunk", "chunk", "complete"]
    assert [e["chunk"]["content"] for e in replay[1:3]] == ["b", "c"]  # after the first one: no gap, no repeat


def test_a_fast_reply_s_chunks_are_stored_as_rows_of_bounded_size_and_replayed_whole(conn, database, webhooks,
                                                                                    caller, make_session):
    """A backend faster than the flush interval (or CHUNK_LOG=end) leaves thousands of chunks for one
    write: stored as one row, every page of a rejoin expanded all of it (quadratic in the reply)."""
    from app.chat.replies import BATCH_MAX_CHARS, BATCH_MAX_CHUNKS

    exchange = send(database, webhooks, caller, make_session(), "q")
    log = ChunkLog(database, exchange.session_id, exchange.message_id, interval=60)
    for n in range(600):
        log.add(chunk(f"{n} "))
    log._flush()
    tail = [chunk("y" * 40_000) for _ in range(5)]
    exchange.save([{"type": "text", "text": "…"}], {}, outcomes.COMPLETE, (600, tail))
    rows = conn.execute("SELECT first_index, jsonb_array_length(chunks) AS n, "
                        "(SELECT sum(length(c ->> 'content')) FROM jsonb_array_elements(chunks) c) AS chars "
                        "FROM reply_chunks WHERE message_id = %s ORDER BY first_index",
                        (exchange.message_id,)).fetchall()
    assert [r["first_index"] for r in rows] == [0, 256, 512, 600, 601, 602, 603, 604]
    assert all(r["n"] <= BATCH_MAX_CHUNKS and (r["chars"] <= BATCH_MAX_CHARS or r["n"] == 1) for r in rows)
    replay = [json.loads(line) for line in Rejoin(database, None, exchange.message_id, offset=0).lines()]
    assert [e["chunk"]["content"] for e in replay if e["type"] == "chunk"] == \
        [f"{n} " for n in range(600)] + ["y" * 40_000] * 5




def test_a_reply_too_large_to_index_whole_is_stored_and_found_by_its_beginning(conn, database, impatient,
                                                                              caller, make_session):
    text = distinct_words(850_000)
    assert conn.execute("SELECT octet_length(%s)", (text,)).fetchone()["octet_length"] > 800_000
    session_id = make_session()
    reply = send(database, impatient, caller, session_id, "dump it")
    assert reply.save([{"type": "text", "text": text}], {}, outcomes.COMPLETE) is True
    stored = messages.get_message(database, caller, reply.message_id)
    assert stored["is_complete"] is True and stored["content"][0]["text"] == text
    assert q.live_reply(conn, session_id=reply.session_id, message_id=reply.message_id) is None
    first_word = text.split(" ", 1)[0]
    found = conn.execute("SELECT count(*) AS n FROM messages WHERE id = %s AND search_vector @@ plainto_tsquery("
                         "'english', %s)", (reply.message_id, first_word)).fetchone()["n"]
    assert found == 1


def test_the_sweep_stores_a_lapsed_reply_too_large_to_index_whole(conn, database, impatient, caller,
                                                                   make_session):
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    text = distinct_words(850_000)
    chunks_stored(conn, first.message_id, text[:400_000], text[400_000:])
    conn.execute("UPDATE live_replies SET lease_expires_at = now() - interval '1 second'")
    assert live.sweep(database, judge_settle=0) == 1
    row = messages.get_message(database, caller, first.message_id)
    assert row["metadata"]["stop_reason"] == "interrupted" and row["content"] == [{"type": "text", "text": text}]
    assert q.live_reply(conn, session_id=first.session_id, message_id=first.message_id) is None
    send(database, impatient, caller, session_id, "q2")  # the session is free


def test_content_the_database_refuses_ends_the_reply_without_it_and_frees_the_session(conn, database, impatient,
                                                                                      caller, make_session):
    """Whatever the database refuses in a reply's content (here a NUL, which jsonb cannot hold), the
    live row goes: the session is not busy forever and the sweep does not retry it forever."""
    session_id = make_session()
    first = send(database, impatient, caller, session_id, "q1")
    with pytest.raises(Exception) as refused:
        first.save([{"type": "text", "text": "bad \x00 byte"}], {}, outcomes.COMPLETE)
    assert refused.value.sqlstate.startswith("22")
    row = messages.get_message(database, caller, first.message_id)
    assert row["metadata"]["stop_reason"] == "storage_refused" and row["is_complete"] is False
    assert q.live_reply(conn, session_id=first.session_id, message_id=first.message_id) is None
    send(database, impatient, caller, session_id, "q2")



WITNESS_KEY = 999000111


@pytest.fixture
def attached_worker(database_url):
    """Another worker attached to the server (its owner lock held) since the test began: with it, the
    server's workers have been attached for a settle time of 0."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as worker:
        worker.execute(TAKE_OWNER_LOCK, (OWNER_LOCK_CLASS, WITNESS_KEY))
        yield worker


def own_reply(conn, exchange, key):
    conn.execute("UPDATE live_replies SET owner_key = %s, started_at = now() - interval '5 seconds' "
                 "WHERE message_id = %s", (key, exchange.message_id))


def oldest_holder_age(conn):
    """Seconds since the oldest session now holding an owner lock in this database connected."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute(
        "SELECT extract(epoch FROM clock_timestamp() - min(a.backend_start)) AS age "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.classid = %s AND l.granted AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())", (OWNER_LOCK_CLASS,)).fetchone()["age"]


def test_nobody_is_judged_until_the_server_s_workers_have_been_attached_for_the_settle_time(
        conn, database, impatient, caller, make_session, attached_worker):
    """After a failover or a restart every worker is dialling the server again: one that has not reached it
    yet holds no lock there, and must not be taken for dead. The server measures how long its workers have
    been attached (the oldest lock holder), not what a judge believes of itself."""
    dead = send(database, impatient, caller, make_session(), "q1")
    own_reply(conn, dead, 111111111)
    unsettled = float(oldest_holder_age(conn)) + 60  # longer than any worker here has been attached
    assert live.sweep(database, judge_settle=unsettled) == 0
    assert live.end_if_owner_gone(database, dead.session_id, dead.message_id, judge_settle=unsettled) is False
    assert q.live_reply(conn, session_id=dead.session_id, message_id=dead.message_id) is not None
    assert live.sweep(database, judge_settle=0) == 1
    assert messages.get_message(database, caller, dead.message_id)["metadata"]["stop_reason"] == "interrupted"


def test_the_owner_check_is_inlined_into_the_queries_that_filter_live_replies(conn):
    """reply_owner_gone stays a plain expression: called once per row instead, the sweep's scan of every
    live reply on every worker cost seven times as much."""
    plan = "\n".join(row["QUERY PLAN"] for row in conn.execute(
        "EXPLAIN (VERBOSE) " + q.lapsed_replies.sql, {"limit": 20, "judge_settle": 8}).fetchall())
    assert "live_reply_owner_keys" in plan and "reply_owner_gone" not in plan, plan


def test_a_worker_whose_listener_is_gone_but_whose_pool_is_attached_keeps_its_reply(
        conn, database, impatient, caller, make_session, database_url, attached_worker):
    """A worker's pooled connections hold its lock too: a listener that is reconnecting, or stuck on a
    frozen old primary while the pool works on the new one, does not make the worker look dead."""
    from app.db import Database

    key = 555555555
    reply = send(database, impatient, caller, make_session(), "q1")
    own_reply(conn, reply, key)
    worker = Database(make_config(database_url=database_url, db_pool_min_size=1, db_pool_reserved_size=0),
                      owner_key=key)
    worker.open()
    try:
        wait_until(lambda: holders(conn, key) >= 1, message="the pooled connection holds the lock")
        assert live.sweep(database, judge_settle=0) == 0
        assert live.end_if_owner_gone(database, reply.session_id, reply.message_id, judge_settle=0) is False
    finally:
        worker.close()
    wait_until(lambda: holders(conn, key) == 0, message="the lock dropped with the connections")
    assert live.sweep(database, judge_settle=0) == 1  # the worker is gone for good now


def test_the_sweep_ends_a_reply_whose_owner_s_lock_is_gone_and_spares_one_whose_lock_is_held(
        conn, database, impatient, caller, make_session, database_url):
    """A worker's advisory lock (4242002, key) says it is alive; a live row naming a key
    nobody holds belongs to a dead instance, whatever its lease says."""
    import psycopg

    dead = send(database, impatient, caller, make_session(), "q1")
    alive = send(database, impatient, caller, make_session(), "q2")
    for exchange, key in ((dead, 111111111), (alive, 222222222)):
        own_reply(conn, exchange, key)
    with psycopg.connect(database_url, autocommit=True) as worker:
        worker.execute("SELECT pg_advisory_lock(4242002, 222222222)")
        assert live.sweep(database, judge_settle=None) == 0  # a process with no owner key judges nobody
        assert live.sweep(database, judge_settle=0) == 1
    assert messages.get_message(database, caller, dead.message_id)["metadata"]["stop_reason"] == "interrupted"
    assert q.live_reply(conn, session_id=alive.session_id, message_id=alive.message_id) is not None


def test_an_owner_whose_lock_is_back_within_a_second_keeps_its_reply(conn, database, impatient, caller,
                                                                     make_session, database_url, attached_worker):
    """A listener that reconnects (a blip, a failover) holds no lock for a moment: a reply is ended only
    when its owner's lock is missing twice, a second apart, not the first time it is seen missing."""
    import gevent
    import psycopg
    from prometheus_client import REGISTRY

    def suspected():
        return REGISTRY.get_sample_value("chat_engine_reply_owners_suspected_total") or 0

    reply = send(database, impatient, caller, make_session(), "q1")
    own_reply(conn, reply, 333333333)
    before = suspected()
    with psycopg.connect(database_url, autocommit=True) as owner_back:  # connected before: only a lock to take
        judge = gevent.spawn(live.end_if_owner_gone, database, reply.session_id, reply.message_id, 0)
        wait_until(lambda: suspected() > before, message="the owner seen missing once")
        owner_back.execute(TAKE_OWNER_LOCK, (OWNER_LOCK_CLASS, 333333333))
        assert judge.get(timeout=10) is True  # suspected: the caller looks at the session again
        assert q.live_reply(conn, session_id=reply.session_id, message_id=reply.message_id) is not None
    # Missing for good.
    assert live.end_if_owner_gone(database, reply.session_id, reply.message_id, judge_settle=0) is True
    assert q.live_reply(conn, session_id=reply.session_id, message_id=reply.message_id) is None
    assert messages.get_message(database, caller, reply.message_id)["metadata"]["stop_reason"] == "interrupted"


def test_a_chunk_batch_retried_after_an_unseen_commit_keeps_the_chunks_since(conn, database, impatient, caller,
                                                                             make_session):
    """A flush whose commit answer was lost stays pending; the next flush sends it again at the same
    index with the chunks that came since: those must not be dropped by the conflict."""
    reply = send(database, impatient, caller, make_session(), "q")
    chunks_stored(conn, reply.message_id, "a", "b")
    chunks_stored(conn, reply.message_id, "a", "b", "c")
    chunks_stored(conn, reply.message_id, "a")
    stored = conn.execute("SELECT chunks FROM reply_chunks WHERE message_id = %s", (reply.message_id,)).fetchall()
    assert [[c["content"] for c in row["chunks"]] for row in stored] == [["a", "b", "c"]]


def test_a_session_still_busy_after_making_way_three_times_is_a_409(database, webhooks):
    """Senders superseding each other (or lapsed replies reappearing) could keep a send busy: the last
    attempt answers reply_in_progress, never an unexpected error."""
    attempts = []

    def always_busy():
        attempts.append(1)
        # A lapsed reply: making way ends it, here a no-op.
        raise exchanges.Busy(uuid.uuid4(), uuid.uuid4(), lapsed=True)

    with pytest.raises(ApiError) as refused:
        starting.start(database, webhooks, None, exchanges.Options(), always_busy)
    assert (refused.value.status, len(attempts)) == (409, 4)
    assert "X-In-Flight-Message-Id" in refused.value.headers

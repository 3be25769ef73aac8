"""One client's heavy reads (searches, exports, message pages) are bounded per client and per
worker, so they cannot take a worker's database connections from other clients' cheap requests.

Measured before the fix: 24 concurrent phrase searches from one client raised another client's
GET /sessions from 0.01 s to 4.24 s. Here a real gunicorn worker serves a session of a few thousand
seeded messages; the searches are held in flight deterministically by a test connection that holds an
ACCESS EXCLUSIVE lock on `messages` (a SELECT waits for no row lock), so what each request meets is
certain, not a matter of timing. GET /sessions reads only `sessions`, so the lock does not touch it.
"""
import time

import gevent
import psycopg
import requests

from app import ids
from support.engine import Api, small_window_socket, token
from support.waiting import wait_until

# No statement_timeout gets in the way of a search that waits on the lock for the length of a test, and
# no lease sweep runs meanwhile.
HELD_SEARCHES = {"SEARCH_STATEMENT_TIMEOUT_MS": 120_000, "EXPORT_STATEMENT_TIMEOUT_MS": 120_000,
                 "LEASE_SECONDS": 600}
PROMPTLY = 3.0  # seconds: a cheap request's answer while the heavy ones are held (it took ~0.01 s)


def seed_conversation(db, session_id, count=3000):
    """A linear conversation of `count` messages with varied English text, written with SQL."""
    db.execute("""
        INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active)
        SELECT md5(%(s)s || ':' || i)::uuid, %(s)s::uuid,
               CASE WHEN i = 1 THEN NULL ELSE md5(%(s)s || ':' || (i - 1))::uuid END,
               CASE WHEN i %% 2 = 1 THEN 'user' ELSE 'assistant' END,
               jsonb_build_array(jsonb_build_object('type', 'text', 'text',
                   'the river and the mountain ' || (ARRAY['coffee','garden','rocket','violin','planet'])[1 + i %% 5]
                   || ' kept the harbor lantern in mind, message ' || i)),
               0, true
          FROM generate_series(1, %(n)s) AS i""", {"s": str(session_id), "n": count})
    return db.execute("SELECT id FROM messages WHERE session_id = %s AND parent_id IS NULL",
                      (session_id,)).fetchone()["id"]


def waiting_on_the_lock(db):
    """The engine's searches blocked on the lock: those that reached the database."""
    return db.execute("""SELECT count(*) AS n FROM pg_stat_activity
                          WHERE datname = current_database() AND pid <> pg_backend_pid()
                            AND application_name LIKE 'chat-engine%%' AND wait_event_type = 'Lock'
                            AND query LIKE '%%websearch_to_tsquery%%'""").fetchone()["n"]


class MessagesLocked:
    """A second real connection holding ACCESS EXCLUSIVE on `messages` until the block ends."""

    def __init__(self, database_url):
        self.conn = psycopg.connect(database_url)

    def __enter__(self):
        self.conn.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


def reads_on(engine_url):
    return requests.get(engine_url + "/health/ready", timeout=5).json()["expensive_reads"]


def test_a_client_at_its_read_cap_gets_429_while_another_clients_session_list_answers_promptly(
        start_engine, session_type, db, database_url, contract):
    engine = start_engine(**HELD_SEARCHES)  # one worker; MAX_CONCURRENT_READS_PER_CLIENT at its default, 4
    heavy, other = Api(engine.url, "heavy-reader"), Api(engine.url, "other-client")
    session_id = heavy.create_session(session_type)
    other.create_session(session_type)
    first = ids.message_gts(seed_conversation(db, ids.parse_session_id(session_id)))
    phrase = {"query": '"river and the mountain"'}

    with MessagesLocked(database_url):
        searches = [gevent.spawn(heavy.get, f"/sessions/{session_id}/search", params=phrase, timeout=60)
                    for _ in range(4)]
        wait_until(lambda: waiting_on_the_lock(db) == 4, timeout=20, message="four searches held in flight")

        # The same client's fifth expensive read, of any kind, is refused at once in the contract's shape.
        for method, path, kwargs in [
                ("GET", f"/sessions/{session_id}/search", {"params": phrase}),
                ("GET", "/search", {"params": phrase}),
                ("GET", f"/sessions/{session_id}/messages", {"params": {"limit": 200}}),
                ("GET", f"/messages/{first}/variants", {}),
                ("POST", f"/sessions/{session_id}/export", {"json": {"format": "markdown", "scope": "all"}})]:
            refused = heavy.call(method, path, timeout=10, **kwargs)
            body = contract.validate_error(refused, 429, "RATE_LIMIT_EXCEEDED")
            assert body["details"]["limit_type"] == "concurrent", body
            assert refused.headers["Retry-After"] == "1" and body["details"]["retry_after_seconds"] == 1

        # Another client's session list, and the heavy client's own cheap reads, are served at once.
        started = time.monotonic()
        listed = other.get("/sessions", timeout=PROMPTLY)
        assert listed.status_code == 200 and len(listed.json()["sessions"]) == 1
        assert time.monotonic() - started < PROMPTLY
        assert heavy.get(f"/sessions/{session_id}", timeout=PROMPTLY).status_code == 200
        assert reads_on(engine.url)["active"] == 4
        assert waiting_on_the_lock(db) == 4  # the refused searches never reached the database

    gevent.joinall(searches, timeout=60, raise_error=True)
    for search in searches:
        assert search.value.status_code == 200 and search.value.json()["total"] == 3000
    # Its slots came back with the answers: the client may read again.
    assert heavy.get(f"/sessions/{session_id}/messages", params={"limit": 200}).status_code == 200
    assert reads_on(engine.url)["active"] == 0


def test_expensive_reads_of_many_clients_leave_database_connections_for_cheap_requests(
        start_engine, session_type, db, database_url):
    """A pool of 4 connections; the worker's bound on expensive reads defaults to half of it (2). Four
    clients' searches held in flight take 2 connections and 2 queue for a slot, holding none: a fifth
    client's session list still gets a connection at once."""
    engine = start_engine(DB_POOL_MAX_SIZE=4, DB_POOL_TIMEOUT_SECONDS=60, **HELD_SEARCHES)
    readers = [Api(engine.url, f"reader-{n}") for n in range(4)]
    for reader in readers:
        seed_conversation(db, ids.parse_session_id(reader.create_session(session_type)), count=500)
    lister = Api(engine.url, "lister")
    lister.create_session(session_type)

    def arrived():
        """Searches held in the database plus those queued for a worker slot (this worker's count)."""
        try:
            queued = requests.get(engine.url + "/health/ready", timeout=1).json()["expensive_reads"]["waiting"]
        except (requests.RequestException, KeyError):
            queued = 0
        return waiting_on_the_lock(db) + queued

    with MessagesLocked(database_url):
        searches = [gevent.spawn(reader.get, "/search", params={"query": "river mountain"}, timeout=90)
                    for reader in readers]
        wait_until(lambda: arrived() == 4, timeout=20, message="four searches in the engine")

        started = time.monotonic()
        listed = lister.get("/sessions", timeout=PROMPTLY)
        assert listed.status_code == 200 and time.monotonic() - started < PROMPTLY
        assert waiting_on_the_lock(db) == 2  # only the worker's bound reached the database
        assert reads_on(engine.url) == {"active": 2, "waiting": 2, "limit": 2, "per_client_limit": 4}

    gevent.joinall(searches, timeout=60, raise_error=True)
    assert [search.value.status_code for search in searches] == [200] * 4
    assert all(search.value.json()["total"] == 1 for search in searches)


def session_of_long_messages(engine, session_type, db, client_id, count, chars):
    """(Api of client_id, a session of `count` messages of `chars` characters each)."""
    reader = Api(engine.url, client_id)
    session_id = reader.create_session(session_type)
    seed_conversation(db, ids.parse_session_id(session_id), count=count)
    db.execute("UPDATE messages SET content = jsonb_build_array(jsonb_build_object('type', 'text', 'text', "
               "repeat('x', %s))) WHERE session_id = %s", (chars, ids.parse_session_id(session_id)))
    return reader, session_id


def test_a_large_page_holds_its_read_slots_until_written_and_a_client_that_stops_reading_is_cut(
        start_engine, session_type, db):
    """Slow readers and read bounds for bodies that are not streams: a page of many megabytes is written in pieces
    under STREAM_WRITE_TIMEOUT_SECONDS, and its read slots stay taken until it is written (they were
    given back as soon as the body was built, so a client's cap bounded nothing while it was written)."""
    engine = start_engine(WEB_CONCURRENCY=1, MAX_CONCURRENT_READS_PER_CLIENT=1, STREAM_WRITE_TIMEOUT_SECONDS=2)
    reader, session_id = session_of_long_messages(engine, session_type, db, "page-reader", 200, 50000)

    stalled = small_window_socket(engine.port)
    try:
        stalled.sendall((f"GET /api/v1/sessions/{session_id}/messages?limit=200 HTTP/1.1\r\nHost: engine\r\n"
                         f"Authorization: Bearer {token('page-reader')}\r\n\r\n").encode())
        wait_until(lambda: reads_on(engine.url)["active"] == 1, message="the page being written holds its slot")
        refused = reader.get(f"/sessions/{session_id}/messages", params={"limit": 1})
        assert refused.status_code == 429  # the client's one read is still being written

        # It reads nothing for STREAM_WRITE_TIMEOUT_SECONDS: the write is given up and the slot comes back.
        wait_until(lambda: reads_on(engine.url)["active"] == 0, timeout=30, message="its slot given back")
        stalled.settimeout(30)
        received = bytearray()
        while chunk := stalled.recv(65536):  # it reads at last: what it gets ends early, the connection cut
            received += chunk
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        assert head.startswith(b"HTTP/1.1 200") and 8_000_000 < length and len(body) < length
    finally:
        stalled.close()
    assert reader.get(f"/sessions/{session_id}/messages", params={"limit": 1}).status_code == 200


def test_a_small_page_to_a_client_that_never_reads_is_cut_and_its_slot_comes_back(start_engine, session_type, db):
    """A body of one piece was one blocking write under no timeout: a client pipelining requests on a
    kept-alive connection and reading nothing held its read slot for ever."""
    engine = start_engine(WEB_CONCURRENCY=1, MAX_CONCURRENT_READS_PER_CLIENT=1, STREAM_WRITE_TIMEOUT_SECONDS=1)
    reader, session_id = session_of_long_messages(engine, session_type, db, "small-reader", 1, 60000)
    assert len(reader.get(f"/sessions/{session_id}/messages", params={"limit": 1}).content) < 64 * 1024

    stalled = small_window_socket(engine.port)
    request = (f"GET /api/v1/sessions/{session_id}/messages?limit=1 HTTP/1.1\r\nHost: engine\r\n"
               f"Authorization: Bearer {token('small-reader')}\r\n\r\n").encode()
    try:
        stalled.sendall(request * 64)  # kept alive and pipelined; never read
        wait_until(lambda: reads_on(engine.url)["active"] == 1, message="a page being written holds its slot")
        wait_until(lambda: reads_on(engine.url)["active"] == 0, timeout=30, message="the write cut, its slot back")
        assert reader.get(f"/sessions/{session_id}/messages", params={"limit": 1}).status_code == 200
    finally:
        stalled.close()


def test_a_head_of_a_large_page_starts_no_write_watch(start_engine, session_type, db):
    """HEAD never asks for the body: a watch started with the view's return was never stopped."""
    engine = start_engine(WEB_CONCURRENCY=1)
    reader, session_id = session_of_long_messages(engine, session_type, db, "head-reader", 20, 20000)
    headed = requests.head(f"{engine.url}/api/v1/sessions/{session_id}/messages",
                           headers={"Authorization": f"Bearer {token('head-reader')}"}, timeout=10)
    assert headed.status_code == 200 and int(headed.headers["Content-Length"]) > 64 * 1024
    assert reads_on(engine.url)["active"] == 0

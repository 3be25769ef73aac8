"""app/db.py and Exchange.save on the database's bad day, against the real PostgreSQL:
connections that died under the pool, and a server that answers read-only (a demoted primary)."""
import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from app.auth import Caller
from app.chat import exchanges, replies, session_types
from app.db import Database, queries as q
from app.metrics import get_metrics
from app.streams import outcomes
from app.webhooks.client import WebhookClient
from support.inprocess import make_config
from support.owner_locks import holders
from unit.conftest import RolledBackDatabase


def open_database(database_url, **settings):
    settings = {"db_pool_min_size": 1, "db_pool_max_size": 2, "db_pool_reserved_size": 1,
                "db_pool_timeout_seconds": 2, **settings}
    database = Database(make_config(database_url=database_url, **settings), owner_key=123456789)
    database.open()
    database.pool.wait(timeout=10)
    return database


def kill_connections(db, database):
    return db.execute("SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
                      "WHERE application_name = %s", (database.application_name,)).fetchone()["n"]


def test_connections_carry_the_worker_s_owner_key(database_url, db):
    database = open_database(database_url)
    try:
        with database.transaction() as conn:
            name = conn.execute("SELECT current_setting('application_name') AS n").fetchone()["n"]
        assert name == "chat-engine#123456789"
    finally:
        database.close()


def test_a_server_that_turned_read_only_has_every_pooled_connection_replaced(database_url, db):
    """A demoted primary still answers, so its connections never look broken: after its first refusal
    the pool dials again instead of handing out the same read-only connections forever."""
    database = open_database(database_url, db_pool_min_size=2)
    try:
        database.pool.wait(timeout=10)
        # Every pooled connection now behaves as one to a server that no longer accepts writes.
        for _ in range(2):
            with database.pool.connection() as conn, database.pool.connection() as other:
                for each in (conn, other):
                    each.execute("SET default_transaction_read_only = on")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            with database.transaction() as conn:
                conn.execute("CREATE TEMPORARY TABLE probe (n int) ON COMMIT DROP")
        with database.transaction() as conn:  # a fresh connection: writes again
            conn.execute("CREATE TEMPORARY TABLE probe (n int) ON COMMIT DROP")
            assert conn.execute("SHOW default_transaction_read_only").fetchone()["default_transaction_read_only"] \
                == "off"
    finally:
        database.close()


@pytest.fixture
def live_exchange(database_url, db):
    """A reply in flight, placed through the real app code and committed."""
    setup = RolledBackDatabase(db)
    type_id = session_types.create(setup, {"name": f"t_{uuid.uuid4().hex[:10]}",
                                           "webhook_url": "http://127.0.0.1:9/"})["id"]
    session_id = q.insert_session(db, id=uuid.uuid4(), client_id="alice", session_type_id=type_id,
                                  capabilities=Jsonb([]), metadata=Jsonb({}))["id"]
    database = open_database(database_url)
    webhooks = WebhookClient(make_config(), get_metrics())
    exchange = exchanges.start_send(database, webhooks, Caller(client_id="alice", is_admin=False), session_id, "q")
    assert exchange.live
    yield database, exchange
    database.close()


def test_a_reply_whose_save_meets_dead_connections_is_stored_once_the_database_answers(live_exchange, db):
    """The client already has the chunks: a connection lost at the save (a failover, a restart) is
    waited out, not a reason to throw the reply away."""
    database, exchange = live_exchange
    with database.transaction(reserved=True):
        pass  # the reserved pool holds an idle connection now
    assert kill_connections(db, database) >= 1
    parts = [{"type": "text", "text": "kept"}]
    assert exchange.save(parts, {}, outcomes.COMPLETE) is True
    stored = db.execute("SELECT content, is_complete FROM messages WHERE id = %s", (exchange.message_id,)).fetchone()
    assert stored == {"content": parts, "is_complete": True}
    assert db.execute("SELECT count(*) AS n FROM live_replies").fetchone()["n"] == 0


def test_a_retried_save_whose_first_attempt_committed_is_still_reported_stored(live_exchange, db):
    """The answer to a COMMIT can be lost with its connection: the retry finds the reply already
    ended, and the stored end (its content and stop_reason) tells whether it was this save's."""
    database, exchange = live_exchange
    parts = [{"type": "text", "text": "done"}]
    assert exchange._store(parts, {}, outcomes.COMPLETE, None, retry=False) is True
    assert exchange._store(parts, {}, outcomes.COMPLETE, None, retry=True) is True
    assert exchange._store([{"type": "text", "text": "other"}], {}, outcomes.COMPLETE, None, retry=True) is False


def test_a_backend_s_own_stop_reason_neither_marks_a_complete_reply_nor_hides_a_retried_save(live_exchange, db):
    """A backend's metadata may carry a stop_reason of its own ("end_turn"). Stored as it came, a
    complete reply had a stop_reason (which says it ended incomplete), and a save retried after an
    unseen commit was taken for someone else's end. It is kept as backend_stop_reason."""
    database, exchange = live_exchange
    parts = [{"type": "text", "text": "done"}]
    assert exchange.save(parts, {"stop_reason": "end_turn", "model": "m"}, outcomes.COMPLETE) is True
    stored = db.execute("SELECT metadata FROM messages WHERE id = %s", (exchange.message_id,)).fetchone()["metadata"]
    assert "stop_reason" not in stored and stored["backend_stop_reason"] == "end_turn" and stored["model"] == "m"
    written = replies.end_metadata({"stop_reason": "end_turn", "model": "m"}, None)
    assert exchange._store(parts, written, outcomes.COMPLETE, None, retry=True) is True


def test_pooled_connections_hold_the_owner_lock_unless_behind_a_transaction_pooler(database_url, db):
    """Through a transaction pooler a session lock would stay on a server connection that other clients
    share, and outlive the worker: there the listener, on the direct URL, holds it alone."""
    database = open_database(database_url, db_pool_min_size=2)
    try:
        database.pool.wait(timeout=10)
        assert holders(db, 123456789) == 2
        with database.transaction() as conn:  # and the server probes them: a vanished machine is noticed
            assert conn.execute("SHOW tcp_keepalives_idle").fetchone()["tcp_keepalives_idle"] in ("5", "0")
            assert conn.execute("SELECT inet_client_addr() IS NULL AS local").fetchone()["local"] or \
                conn.execute("SHOW tcp_keepalives_idle").fetchone()["tcp_keepalives_idle"] == "5"
    finally:
        database.close()
    database = open_database(database_url, database_direct_url=make_conninfo(database_url, application_name="x"))
    try:
        assert database.pool.get_stats()["pool_size"] >= 1
        assert holders(db, 123456789) == 0
    finally:
        database.close()

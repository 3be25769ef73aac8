"""app/gevent_wait.py: psycopg's wait under gevent (this test process is monkey-patched, like a worker)."""
import gevent
import psycopg
import psycopg.waiting
import pytest

from app import check_gevent_wait, gevent_wait
from support.waiting import wait_until


def test_a_worker_s_app_makes_psycopg_wait_through_gevent():
    assert check_gevent_wait() == "wait_gevent"
    assert psycopg.waiting.wait is gevent_wait.wait_gevent


def test_a_query_blocked_in_the_server_lets_other_greenlets_run(database_url):
    """If the wait blocked the thread, the greenlet releasing the lock could never run: a deadlock."""
    check_gevent_wait()
    with psycopg.connect(database_url, autocommit=True) as holder, \
            psycopg.connect(database_url, autocommit=True) as blocked, \
            psycopg.connect(database_url, autocommit=True) as observer:
        holder.execute("SELECT pg_advisory_lock(4242)")
        waiting = gevent.spawn(lambda: blocked.execute("SELECT pg_advisory_lock(4242), 'got it'").fetchone())
        wait_until(lambda: observer.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0] == 1,
            message="the second connection waiting for the lock")
        assert not waiting.ready()
        holder.execute("SELECT pg_advisory_unlock(4242)")
        assert waiting.get(timeout=10)[1] == "got it"


def test_a_deadline_ends_a_wait_and_notices_still_arrive(database_url):
    check_gevent_wait()
    with psycopg.connect(database_url, autocommit=True) as listener, \
            psycopg.connect(database_url, autocommit=True) as sender:
        listener.execute("LISTEN gevent_wait_test")
        assert list(listener.notifies(timeout=0.05)) == []  # the deadline passes: no notice, no error
        heard = gevent.spawn(lambda: next(listener.notifies(timeout=10)).payload)
        sender.execute("NOTIFY gevent_wait_test, 'hello'")
        assert heard.get(timeout=10) == "hello"


def test_a_connection_closed_under_a_wait_is_an_operational_error(database_url):
    check_gevent_wait()
    with psycopg.connect(database_url, autocommit=True) as victim, \
            psycopg.connect(database_url, autocommit=True) as killer:
        pid = victim.info.backend_pid
        running = gevent.spawn(lambda: victim.execute("SELECT pg_sleep(30)"))
        wait_until(lambda: killer.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                                          (pid,)).fetchone()[0] == 1, message="the query running")
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            running.get(timeout=10)


def test_a_connection_closed_by_another_greenlet_ends_the_wait(database_url):
    """epoll forgets a closed descriptor: without the periodic look, this wait would never end."""
    check_gevent_wait()
    with psycopg.connect(database_url, autocommit=True) as observer:
        victim = psycopg.connect(database_url, autocommit=True)
        pid = victim.info.backend_pid
        running = gevent.spawn(lambda: victim.execute("SELECT pg_sleep(30)"))
        wait_until(lambda: observer.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                                            (pid,)).fetchone()[0] == 1, message="the query running")
        victim.pgconn.finish()  # the socket closed under the waiting greenlet
        with pytest.raises(psycopg.OperationalError):
            running.get(timeout=10)
        observer.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_deadline_counts_from_the_wait_not_from_the_loop_s_last_clock_update(database_url):
    """CPU-bound work before a wait leaves the event loop's clock behind; the deadline must not shrink."""
    import time

    check_gevent_wait()
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN gevent_wait_deadline")
        busy_until = time.monotonic() + 0.3
        while time.monotonic() < busy_until:  # no switch to the hub meanwhile
            pass
        started = time.monotonic()
        assert list(listener.notifies(timeout=0.2)) == []
        assert time.monotonic() - started >= 0.19


def test_a_server_that_stops_answering_costs_one_connection_not_the_pool(database_url):
    """A hung primary (SIGSTOP here, a partition elsewhere) keeps its sockets open and silent: a query
    sent to it waited forever, and with it the connection. After DB_SILENCE_SECONDS the connection is
    abandoned and the pool dials again."""
    import os
    import signal
    import time

    from app.db import Database
    from support.inprocess import make_config

    check_gevent_wait(silence_seconds=1.5)
    database = Database(make_config(database_url=database_url, db_pool_min_size=1, db_pool_max_size=1,
                                    db_pool_reserved_size=0, db_pool_timeout_seconds=10))
    database.open()
    frozen = None
    try:
        with database.transaction() as conn:
            frozen = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
        os.kill(frozen, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="sent nothing for 1.5 s"):
            with database.transaction() as conn:
                conn.execute("SELECT 1")
        assert time.monotonic() - started < 10
        with database.transaction() as conn:  # a new connection, to a server that answers
            assert conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] != frozen
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        database.close()
        check_gevent_wait()

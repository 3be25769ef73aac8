"""app/replicas.py: the read-after token, and which server serves a read (the real-standby behaviour is
tests/functional/db/test_read_replicas.py)."""
import time

import gevent
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.db import Database, read_after
from app.errors import classify_database_error
from app.replicas import READ_AFTER_HEADER, Replicas, valid_token
from launch.embedded_postgres import free_port
from support.inprocess import make_config
from support.waiting import wait_until


@pytest.mark.parametrize("token", ["0/16B3748", "ffffffff/FFFFFFFF", "1/0"])
def test_a_write_position_is_a_token(token):
    assert valid_token(token)


@pytest.mark.parametrize("token", ["", "0/", "/1", "G/1", "1/2/3", "\uff10/1", "0/1\x00", "0/123456789",
                                   " 0/1", "0/1 ", "²/1"])
def test_anything_else_is_not(token):
    assert not valid_token(token)


def test_a_malformed_token_is_a_400_in_the_error_shape(client, contract):
    response = client.get("/api/v1/openapi.json", headers={READ_AFTER_HEADER: "not-a-position\u00b2"})
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == READ_AFTER_HEADER


def test_without_replicas_a_token_is_accepted_and_changes_nothing(client):
    assert client.get("/api/v1/openapi.json", headers={READ_AFTER_HEADER: "0/1"}).status_code == 200


class Served:
    """Records what Replicas reports (the metrics' read_served)."""

    def __init__(self):
        self.reads = []

    def read_served(self, server, reason):
        self.reads.append((server, reason))


def database_reading_from(database_url, read_url, **settings):
    config = make_config(**{"database_url": database_url, "database_read_url": read_url, "db_pool_min_size": 1,
                            "db_pool_max_size": 2, "db_pool_timeout_seconds": 2, "db_outage_wait_seconds": 0.2,
                            "read_replica_retry_seconds": 60, **settings})
    database = Database(config)
    served = Served()
    database.replicas = Replicas(database.read_pool, config, served)
    database.open()
    return database, served


def test_a_read_url_that_is_not_a_standby_serves_no_read(database_url):
    # A promoted replica, or a primary named by mistake, may have diverged from DATABASE_URL: never read there.
    database, served = database_reading_from(database_url, database_url)
    try:
        with database.read() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
        token = read_after.set(database.write_position())
        try:
            with database.read():
                pass
        finally:
            read_after.reset(token)
        assert served.reads == [("primary", "not_standby"), ("primary", "not_standby")]
    finally:
        database.close()


def test_a_replica_that_is_down_sends_reads_to_the_primary_and_rests(database_url):
    database, served = database_reading_from(database_url, f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    try:
        with database.read() as conn:
            assert conn.execute("SELECT pg_is_in_recovery() AS standby").fetchone() == {"standby": False}
        started = time.monotonic()
        with database.read():
            pass
        # Resting: the second read did not wait for the replica's pool again.
        assert time.monotonic() - started < 0.2
        assert served.reads == [("primary", "unavailable"), ("primary", "unavailable")]
    finally:
        database.close()


def test_without_a_read_url_there_is_no_read_pool_and_no_token(database_url):
    database = Database(make_config(database_url=database_url))
    assert database.read_pool is None and database.replicas is None


def test_a_read_a_replica_cancelled_for_its_replay_is_a_503_to_retry(conn):
    # What a hot standby raises when replay needs what a read holds (SQLSTATE 40001), raised here by the server.
    with pytest.raises(psycopg.errors.SerializationFailure) as raised:
        with conn.transaction():
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'canceling statement due to conflict with recovery' "
                         "USING ERRCODE = 'serialization_failure'; END $$")
    error = classify_database_error(raised.value)
    assert (error.status, error.headers) == (503, {"Retry-After": "1"})


def test_a_read_url_may_name_several_hosts_and_libpq_skips_the_one_that_is_down(database_url):
    server = conninfo_to_dict(database_url)
    several = make_conninfo(database_url, host=f"127.0.0.1,{server.get('host', '127.0.0.1')}",
                            port=f"{free_port()},{server.get('port', 5432)}", target_session_attrs="any")
    database, served = database_reading_from(database_url, several)
    try:
        with database.read() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
        # libpq reached the live host (a primary here, so the check itself says no): not "unavailable".
        assert served.reads == [("primary", "not_standby")]
    finally:
        database.close()


def test_a_replica_pool_with_a_full_queue_sends_the_read_to_the_primary_without_resting(database_url):
    database, served = database_reading_from(database_url, database_url, db_pool_max_size=1, db_pool_max_waiting=1)
    try:
        held = database.read_pool.getconn()
        waiting = gevent.spawn(database.read_pool.getconn, timeout=10)
        wait_until(lambda: database.read_pool.get_stats().get("requests_waiting") == 1, message="a queued read")
        with database.read() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
        database.read_pool.putconn(held)
        database.read_pool.putconn(waiting.get(timeout=10))
        with database.read():
            pass
        # Busy is not down: the next read tried the replica again (and found a primary there).
        assert served.reads == [("primary", "busy"), ("primary", "not_standby")]
    finally:
        database.close()

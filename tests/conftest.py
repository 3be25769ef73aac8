"""Fixtures: a real PostgreSQL, the engine under gunicorn, webhook backends on loopback ports.

gevent patches first: the fake backends run as greenlets in this process while tests block on HTTP.
"""
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import uuid  # noqa: E402

import flask.testing  # noqa: E402
import psycopg  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from app import migrations  # noqa: E402
from app.db import checks  # noqa: E402
from launch.embedded_postgres import EmbeddedPostgres  # noqa: E402
from support.backends import Backend  # noqa: E402
from support.contract import Contract  # noqa: E402
from support.engine import Api, EngineProcess, close_clients, expect  # noqa: E402


class ServerLikeClient(flask.testing.FlaskClient):
    """Flask's test client, closing each response as a WSGI server does once it has written it: without
    that, what a view holds until its response is closed (an expensive read's slots) would never come back."""

    def open(self, *args, buffered=True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


flask.Flask.test_client_class = ServerLikeClient

TABLES = ("session_types, sessions, messages, share_tokens, reactions, exports, idempotency_keys, webhook_notices, "
          "client_feeds, client_events")
CHECKS = checks()
# CHAT_ENGINE_TEST_PARTITIONS=16: the whole suite on the per-session tables hash-partitioned by session, 16 partitions
# each (docs/partitioning.md); unset, the plain layout.
PARTITIONS = int(os.environ.get("CHAT_ENGINE_TEST_PARTITIONS") or 0) or None


@pytest.fixture(scope="session")
def postgres_url():
    """A server for the run: DATABASE_URL's (a fresh database in it), or an embedded one."""
    external = os.environ.get("DATABASE_URL")
    if external:
        name = f"chat_engine_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(external, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        yield make_conninfo(external, dbname=name)
        with psycopg.connect(external, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        return
    with EmbeddedPostgres(fast_unsafe=True) as server:
        yield server.url


@pytest.fixture(scope="session")
def database_url(postgres_url):
    migrations.upgrade(postgres_url, partitions=PARTITIONS)
    return postgres_url


@pytest.fixture(scope="session")
def db(database_url):
    """A connection for assertions and setup, in autocommit mode."""
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


@pytest.fixture(autouse=True)
def tree_invariants(request):
    """After every test that touched the database: no orphans, no cross-session parents, exactly one
    active sibling per group, variant indexes 0..n-1, every history item as its message renders it
    (sql/checks/invariants.sql). Then the tables are emptied."""
    uses_database = {"db", "engine_process", "database_url"} & set(request.fixturenames)
    conn = request.getfixturevalue("db") if uses_database else None
    yield
    if conn is None:
        return
    violations = CHECKS.tree_violations(conn)
    reply_violations = CHECKS.reply_violations(conn)
    _empty_tables(conn)
    assert violations["orphans"] == 0 and not any(violations.values()), violations
    assert not any(reply_violations.values()), reply_violations


def _empty_tables(conn, attempts=3):
    """TRUNCATE takes every table's (and, partitioned, every partition's) lock in turn while an engine may still
    be finishing a request of the test: PostgreSQL then picks one side of the deadlock to roll back, and a
    TRUNCATE chosen is simply run again."""
    for attempt in range(attempts):
        try:
            conn.execute(f"TRUNCATE {TABLES} CASCADE")
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == attempts - 1:
                raise


# Set by tests/functional/db/test_pgbouncer.py for a run of the streaming, cross-instance and rejoin tests with every
# engine behind a real PgBouncer in transaction mode (DATABASE_DIRECT_URL: the server itself).
THROUGH_POOLER = os.environ.get("CHAT_ENGINE_TEST_THROUGH_PGBOUNCER") == "1"


@pytest.fixture(scope="session")
def engine_database(database_url):
    """(DATABASE_URL, extra environment) for the engines the tests start."""
    if not THROUGH_POOLER:
        yield database_url, {}
        return
    from support.pgbouncer import PgBouncer

    pooler = PgBouncer(database_url)
    yield pooler.url, {"DATABASE_DIRECT_URL": database_url}
    pooler.stop()


@pytest.fixture(scope="session")
def engine_process(engine_database):
    url, env = engine_database
    server = EngineProcess(url, **env)
    yield server
    close_clients(server.url)
    server.stop()


@pytest.fixture
def start_engine(engine_database):
    """Start more engines (other settings, or a second instance); all stopped after the test."""
    started = []
    url, pooled = engine_database

    def start(**env):
        server = EngineProcess(url, **{**pooled, **env})
        started.append(server)
        return server
    yield start
    for server in started:
        close_clients(server.url)
        server.stop()


@pytest.fixture
def backend():
    server = Backend()
    yield server
    server.stop()


@pytest.fixture
def api(engine_process):
    return Api(engine_process.url, client_id=f"client-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def admin(engine_process):
    return Api(engine_process.url, client_id="operator", admin=True)


@pytest.fixture
def make_session_type(admin):
    def make(backend_or_url, **settings):
        url = backend_or_url if isinstance(backend_or_url, str) else backend_or_url.url
        name = f"t_{uuid.uuid4().hex[:10]}"
        response = admin.post("/admin/session-types", json={"name": name, "webhook_url": url, **settings})
        return expect(response, 201).json()["session_type_id"]
    return make


@pytest.fixture
def session_type(make_session_type, backend):
    return make_session_type(backend)


@pytest.fixture(scope="session")
def contract(engine_process):
    return Contract(requests.get(engine_process.url + "/api/v1/openapi.json", timeout=10).json())

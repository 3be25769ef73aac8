"""The in-process tier: no gunicorn, no backend servers.

Pure modules are called directly. `app/chat` functions run against the real PostgreSQL inside one
transaction per test that is rolled back afterwards (each `db.transaction()` of the code under test
becomes a savepoint in it), so tests neither clean up nor see each other's rows. Non-streaming HTTP
error paths go through `create_app(Config(...)).test_client()`.
"""
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.rows import dict_row

from app import create_app
from app.auth import Caller
from app.db import checks
from support.contract import Contract
from support.inprocess import make_config

CHECKS = checks()


class RolledBackDatabase:
    """Stands in for app.db.Database: every transaction is a savepoint of the test's transaction."""

    def __init__(self, conn):
        self.conn = conn

    @contextmanager
    def transaction(self, reserved=False):
        with self.conn.transaction():
            yield self.conn

    replicas = None  # no read replicas: reads are savepoints too

    def read(self, after=None):
        return self.transaction()


@pytest.fixture(scope="session")
def unit_connection(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def conn(unit_connection):
    """A connection inside a transaction that is rolled back after the test; the tree invariants are
    checked on what the test left before the rollback."""
    with unit_connection.transaction(force_rollback=True):
        yield unit_connection
        violations = CHECKS.tree_violations(unit_connection)
        violations.update(CHECKS.reply_violations(unit_connection))
    assert not any(violations.values()), violations


@pytest.fixture
def database(conn):
    return RolledBackDatabase(conn)


@pytest.fixture
def tree_invariants():
    """The functional tier's check-and-truncate is not needed here: `conn` rolls everything back."""


@pytest.fixture
def caller():
    return Caller(client_id="alice", is_admin=False)


@pytest.fixture
def client():
    """An in-process app without a database: for paths that fail before any query."""
    return create_app(make_config()).test_client()


@pytest.fixture
def contract_for():
    """The contract as the in-process app serves it (the functional tier's `contract` needs gunicorn)."""
    return lambda test_client: Contract(test_client.get("/api/v1/openapi.json").get_json())


@pytest.fixture
def contract(client, contract_for):
    return contract_for(client)

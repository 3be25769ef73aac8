"""Behind PgBouncer in transaction mode: the streaming, cross-instance, rejoin and
instance-death tests run once more with every engine's DATABASE_URL pointing at a real pgbouncer, and
DATABASE_DIRECT_URL at the server for LISTEN, the owner locks and migrations."""
import os
import re
import subprocess
import sys

import psycopg
import pytest

from support import pgbouncer
from support.engine import ROOT

THROUGH = ["tests/functional/streams/test_streaming.py", "tests/functional/streams/test_streams_across_instances.py",
           "tests/functional/streams/test_instance_death.py"]


@pytest.fixture(scope="module")
def pooler(database_url):
    if pgbouncer.binary() is None:
        pytest.skip("pgbouncer is not installed and this machine cannot install it (no root or no apt-get)")
    server = pgbouncer.PgBouncer(database_url, pool_size=4)
    yield server
    server.stop()


def test_prepared_statements_break_through_the_pooler_and_the_engine_does_not_prepare(pooler, database_url):
    """What the engine avoids: psycopg prepares a statement after 5 runs, and through a transaction
    pooler the next transaction may meet a server connection that has it already, or lacks it."""
    from app.config import Config
    from app.db import Database

    engine = Database(Config(database_url=pooler.url, database_direct_url=database_url, db_pool_min_size=1,
                             db_pool_max_size=4, db_pool_reserved_size=0))
    engine.open()
    try:
        for _ in range(40):
            with engine.transaction() as conn:
                assert conn.prepare_threshold is None
                conn.execute("SELECT %s::int AS n", (1,))
    finally:
        engine.close()
    failures = 0
    with psycopg.connect(pooler.url, autocommit=True) as first, psycopg.connect(pooler.url, autocommit=True) as other:
        for _ in range(20):
            for conn in (first, other):
                try:
                    with conn.transaction():
                        conn.execute("SELECT %s::int AS n", (1,))
                except psycopg.Error:
                    failures += 1
    assert failures > 0  # psycopg's default (prepare after 5 runs) does break through the pooler


def test_streaming_cross_instance_and_rejoin_tests_pass_through_pgbouncer(pooler):
    env = {**os.environ, "CHAT_ENGINE_TEST_THROUGH_PGBOUNCER": "1"}
    env.pop("DATABASE_URL", None)  # the inner run starts its own server, as this one did
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *THROUGH], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=900)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 25 and "skipped" not in summary, summary

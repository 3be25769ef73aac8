"""On the partitioned layout (docs/partitioning.md): a few representative functional tests run once more, in a
run of their own whose database has its per-session tables hash-partitioned by session (CHAT_ENGINE_TEST_PARTITIONS,
tests/conftest.py). CI runs only `scripts/test`: this keeps the partitioned layout covered there. The whole suite
runs on it with `CHAT_ENGINE_TEST_PARTITIONS=16 scripts/test`."""
import os
import re
import subprocess
import sys
import uuid

import psycopg
from psycopg.conninfo import make_conninfo

from support.engine import JWT_SECRET, ROOT

# Sends, the tree (variants, edits, deletes), enqueued replies, forks, reactions with feedback, erasure: every
# per-session table written and read, and a session's delete through all of them.
REPRESENTATIVE = ["tests/functional/api/test_send.py", "tests/functional/chat/test_tree.py",
                  "tests/functional/streams/test_enqueue.py", "tests/functional/api/test_forks.py",
                  "tests/functional/api/test_reaction_feedback.py", "tests/functional/api/test_erasure.py"]


def test_representative_functional_tests_pass_on_the_partitioned_layout():
    env = {**os.environ, "CHAT_ENGINE_TEST_PARTITIONS": "4"}
    env.pop("DATABASE_URL", None)  # the inner run starts its own server, as this one did
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *REPRESENTATIVE],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 35 and "skipped" not in summary, summary


def test_the_cli_partitions_once_and_refuses_a_count_it_cannot_use(postgres_url):
    name = f"cli_partitioned_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(postgres_url, dbname=name)

    def flask(*args, **env):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "DATABASE_URL": url, "JWT_SECRET": JWT_SECRET,
                                                           "LOG_LEVEL": "WARNING", **env})
    refused = flask("db", "upgrade", DATABASE_PARTITIONS="1")
    assert refused.returncode != 0 and "DATABASE_PARTITIONS" in refused.stderr and "Traceback" not in refused.stderr
    upgraded = flask("db", "upgrade", DATABASE_PARTITIONS="2")
    assert upgraded.returncode == 0 and "2 partitions" in upgraded.stdout, upgraded.stderr
    again = flask("db", "partition", "--partitions", "3")
    assert again.returncode == 0 and "already partitioned" in again.stdout, again.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        partitions = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass").fetchone()
    assert partitions[0] == 2
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

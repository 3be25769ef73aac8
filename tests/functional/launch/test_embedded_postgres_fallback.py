"""With no PostgreSQL server binaries on the machine, the run and test commands fall back
to the PostgreSQL that the pip package `pgserver` ships. CHAT_ENGINE_PG_BINDIR pointing at an empty
directory stands in for a machine without binaries."""
import os
import signal
import subprocess
import sys

import psycopg
import pytest
import requests

from app import migrations
from launch.embedded_postgres import EmbeddedPostgres, find_bindir, free_port
from support.engine import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def no_server_binaries(tmp_path, monkeypatch):
    empty = tmp_path / "no-postgres-here"
    empty.mkdir()
    monkeypatch.setenv("CHAT_ENGINE_PG_BINDIR", str(empty))
    return {**os.environ, "CHAT_ENGINE_PG_BINDIR": str(empty)}


def test_without_server_binaries_the_pip_postgres_is_used(no_server_binaries):
    bindir, from_pip = find_bindir()
    assert from_pip and f"{os.sep}pgserver{os.sep}" in bindir
    with EmbeddedPostgres(fast_unsafe=True) as server:
        assert server.from_pip
        migrations.upgrade(server.url)
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == \
                len(migrations.available())
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"


def test_the_test_command_runs_on_the_pip_postgres(no_server_binaries):
    env = {k: v for k, v in no_server_binaries.items() if k != "DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/functional/api/test_openapi.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout


def test_the_run_command_runs_on_the_pip_postgres(no_server_binaries, tmp_path):
    port = free_port()
    env = {k: v for k, v in no_server_binaries.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update(PORT=str(port), CHAT_ENGINE_RUN_DIR=str(tmp_path / "run"), WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    launcher = subprocess.Popen([sys.executable, "-m", "launch"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    try:
        printed = []
        for line in launcher.stdout:
            printed.append(line)
            if line.startswith("TOKEN="):
                break
        token = printed[-1].strip().split("=", 1)[1]
        assert any("embedded PostgreSQL" in line for line in printed)
        ready = requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
        assert ready.status_code == 200
        listed = requests.get(f"http://127.0.0.1:{port}/api/v1/sessions", timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
    finally:
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) is not None
    assert not os.path.exists(tmp_path / "run" / "pgdata" / "postmaster.pid"), "PostgreSQL left running"

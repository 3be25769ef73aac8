"""The README's run command: from nothing to a streamed reply, by the lines it prints."""
import os
import signal
import subprocess
import sys

import pytest
import requests

from launch.embedded_postgres import free_port
from support.engine import ROOT

pytestmark = pytest.mark.slow


def test_run_command_serves_the_printed_curl_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    demo_port = free_port()
    env.update(PORT=str(free_port()), CHAT_ENGINE_RUN_DIR=str(tmp_path), DEMO_DELAY="0.01",
               WEB_CONCURRENCY="1", LOG_LEVEL="WARNING", DEMO_BACKEND_PORT=str(demo_port))
    launcher = subprocess.Popen([sys.executable, "-m", "launch"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    try:
        printed = []
        for line in launcher.stdout:
            printed.append(line)
            if line.startswith("curl -N"):
                printed.append(next(launcher.stdout))
                break
        start = next(i for i, line in enumerate(printed) if line.startswith("TOKEN="))
        script = "".join(printed[start:])
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert '"type":"start"' in lines[0], result
        assert sum('"type":"chunk"' in line for line in lines) >= 2
        assert '"type":"complete"' in lines[-1]
        # It says it runs in development mode, and its demo backend only answers signed requests.
        assert any("development mode" in line for line in printed)
        unsigned = requests.post(f"http://127.0.0.1:{demo_port}/", json={"event": "session_type.health_check"},
                                 timeout=5)
        assert unsigned.status_code == 401
    finally:
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) is not None
    assert not os.path.exists(tmp_path / "pgdata" / "postmaster.pid"), "PostgreSQL left running"

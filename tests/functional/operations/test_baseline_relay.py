"""The benchmark's same-stack baseline (loadtests/relay.py) and its connection-counting backend work
end to end: a real gunicorn relay, a real PostgreSQL, the demo backend on loopback."""
import json
import os
import subprocess
import sys
import uuid

import requests

from launch.embedded_postgres import free_port
from support.engine import JWT_SECRET, ROOT, read_ndjson, token
from support.waiting import wait_until

SESSION = "gts.hyperspot.chat_engine.entities.session.v1~"


def _serve(args, env, probe_url, name):
    log = open(os.path.join("/tmp", f"{name}-{uuid.uuid4().hex[:6]}.log"), "w")
    process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env={**os.environ, **env},
                               stdout=log, stderr=subprocess.STDOUT)

    def up():
        assert process.poll() is None, open(log.name).read()[-3000:]
        try:
            requests.get(probe_url, timeout=1)
            return True
        except requests.RequestException:
            return False
    wait_until(up, timeout=30, message=name)
    return process


def _accepted(backend_url):
    return requests.get(backend_url + "_bench/connections", timeout=5).json()["accepted"]


def test_relay_streams_stores_and_reuses_the_backend_connection(db, database_url):
    backend_port, relay_port = free_port(), free_port()
    backend_url, relay_url = f"http://127.0.0.1:{backend_port}/", f"http://127.0.0.1:{relay_port}"
    processes = [_serve(["loadtests.counting_backend", "--port", str(backend_port), "--delay", "0"], {},
                        backend_url + "_bench/connections", "counting-backend")]
    try:
        processes.append(_serve(["gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{relay_port}",
                                 "--graceful-timeout", "2", "loadtests.relay:app"],
                                {"DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET,
                                 "RELAY_BACKEND_URL": backend_url}, relay_url, "baseline-relay"))
        session_id, type_id = uuid.uuid4(), "gts.hyperspot.chat_engine.session_types.relay_smoke.v1~"
        db.execute("INSERT INTO session_types (id, name, webhook_url) VALUES (%s, 'relay smoke', %s)",
                   (type_id, backend_url))
        db.execute("INSERT INTO sessions (id, client_id, session_type_id) VALUES (%s, 'relay-client', %s)",
                   (session_id, type_id))
        headers = {"Authorization": f"Bearer {token('relay-client')}"}
        before = _accepted(backend_url)
        replies = []
        for text in ("first question", "second question"):
            response = requests.post(relay_url + "/api/v1/messages/send", headers=headers, stream=True, timeout=10,
                                     json={"session_id": f"{SESSION}{session_id}", "content": text})
            assert response.status_code == 200
            events = list(read_ndjson(response))
            assert [e["type"] for e in events][0] == "start" and events[-1]["type"] == "complete"
            replies.append("".join(e["chunk"]["content"] for e in events if e["type"] == "chunk"))
        assert replies == ["You said: first question", "You said: second question"]
        # One connection for both sends (the counter's own request is the other one).
        assert _accepted(backend_url) - before - 1 == 1

        rows = db.execute("SELECT role, content, is_complete, parent_id, id FROM messages WHERE session_id = %s "
                          "ORDER BY created_at", (session_id,)).fetchall()
        assert [(r["role"], r["is_complete"]) for r in rows] == [("user", True), ("assistant", True)] * 2
        assert rows[3]["content"] == [{"type": "text", "text": "You said: second question"}]
        assert [r["parent_id"] for r in rows] == [None] + [r["id"] for r in rows[:3]]
        wrong_owner = requests.post(relay_url + "/api/v1/messages/send", timeout=10,
                                    headers={"Authorization": f"Bearer {token('someone-else')}"},
                                    json={"session_id": str(session_id), "content": "x"})
        assert wrong_owner.status_code == 404
        assert json.loads(requests.post(relay_url + "/api/v1/messages/send", json={}, timeout=10).text)["error"]
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

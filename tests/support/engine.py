"""Chat Engine as users run it: gunicorn processes with gevent workers, on loopback ports."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jwt
import requests

from launch.embedded_postgres import free_port
from support.request_shapes import shapes_of
from support.waiting import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-keys"


def token(client_id, admin=False, ttl=3600, secret=JWT_SECRET, **claims):
    payload = {"sub": client_id, "exp": int(time.time()) + ttl, **claims}
    if admin:
        payload["roles"] = ["admin"]
    return jwt.encode(payload, secret, algorithm="HS256")


class EngineProcess:
    def __init__(self, database_url, workers=1, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET,
                       "BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers),
                       "LOG_LEVEL": "WARNING", "GRACEFUL_TIMEOUT": "10", "PUBLIC_BASE_URL": self.url,
                       # Every engine of a run delivers every pending notice (app/webhooks/outbox.py): with
                       # the default backoff (up to a minute) a test would wait on whichever claimed one.
                       "NOTICE_RETRY_INITIAL_SECONDS": "0.1", "NOTICE_RETRY_MAX_SECONDS": "0.5",
                       **{k: str(v) for k, v in env.items()}}
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = os.path.join("/tmp", f"chat-engine-test-{self.port}.log")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                        cwd=ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(self._live, timeout=30, message=f"engine on port {self.port}")

    def _live(self):
        if self.process.poll() is not None:
            raise AssertionError(f"engine exited: {open(self.log_path).read()[-3000:]}")
        try:
            return requests.get(self.url + "/health/live", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def kill(self):
        """SIGKILL the master and its workers at once: an instance dying mid-flight."""
        pids = self.worker_pids()
        for pid in [self.process.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self._log.close()


class RequestFailed(Exception):
    """A request a test relied on was refused. Raised by helpers instead of asserting, so a broken
    setup step shows as an error naming the status and body, never as the test's own failed assertion."""


def expect(response, status):
    if response.status_code != status:
        raise RequestFailed(f"{response.request.method} {response.url}: expected HTTP {status}, got "
                            f"{response.status_code}: {response.text[:2000]}")
    return response


class StreamResult:
    """A streamed exchange. A refused one (not 200) has no events: reading them raises RequestFailed
    with the error body; check `status` and `error` instead."""

    def __init__(self, response, events):
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self._events = events

    @property
    def events(self):
        if self._events is None:
            raise RequestFailed(f"the stream was refused with HTTP {self.status}: {self.response.text[:2000]}")
        return self._events

    @property
    def error(self):
        """The error body of a refused stream (None when it streamed)."""
        return None if self._events is not None else self.response.json()

    @property
    def types(self):
        return [e["type"] for e in self.events]

    @property
    def text(self):
        return "".join(e["chunk"]["content"] for e in self.events if e["type"] == "chunk")

    @property
    def message_id(self):
        return self.events[0]["message_id"]

    @property
    def user_message_id(self):
        return self.headers.get("X-User-Message-Id")


def read_ndjson(response):
    """Yield events as their lines arrive (requests' iter_lines would wait for 512 bytes)."""
    pending = b""
    while True:
        data = response.raw.read1(65536)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if pending.strip():
        yield json.loads(pending)


_clients = []  # strong references: a collected Session may leave its sockets open until the GC runs


def close_clients(base_url):
    """Close the idle keep-alive connections of every Api of one engine. Call before stopping it at
    the end of a test: gunicorn's graceful stop otherwise waits its full timeout for them."""
    for client in [c for c in _clients if c.base == base_url]:
        client.http.close()
        _clients.remove(client)


class Api:
    """A client of one engine, authenticated as one client id."""

    def __init__(self, base_url, client_id="alice", admin=False):
        self.base = base_url
        self.client_id = client_id
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token(client_id, admin=admin)}"
        _clients.append(self)

    def as_client(self, client_id, admin=False):
        return Api(self.base, client_id, admin)

    def call(self, method, path, **kwargs):
        """One request; its body, query and path ids are checked against the served OpenAPI document
        (support/request_shapes.py), so a test fails when the document and the engine disagree."""
        kwargs.setdefault("timeout", 30)
        response = self.http.request(method, self.base + "/api/v1" + path, **kwargs)
        try:
            shapes_of(self.base).check(method, path, kwargs.get("json"), kwargs.get("params"), response)
        except BaseException:
            response.close()
            raise
        return response

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def open_stream(self, path, body=None):
        return self.call("POST", path, json=body, stream=True)

    def stream(self, path, body=None):
        response = self.open_stream(path, body)
        if response.status_code != 200:
            return StreamResult(response, None)
        return StreamResult(response, list(read_ndjson(response)))

    def create_session(self, session_type_id, **extra):
        response = self.post("/sessions", json={"session_type_id": session_type_id, **extra})
        return expect(response, 201).json()["session_id"]

    def send(self, session_id, content, **extra):
        return self.stream("/messages/send", {"session_id": session_id, "content": content, **extra})

    def recreate(self, message_id, **body):
        return self.stream(f"/messages/{message_id}/recreate", body or None)

    def path(self, session_id):
        """The whole active path, every page (a setup and read-back step; fails as RequestFailed if refused)."""
        messages, cursor = [], None
        while True:
            query = "?limit=200" + (f"&cursor={cursor}" if cursor else "")
            page = expect(self.get(f"/sessions/{session_id}/messages{query}"), 200).json()
            messages += page["messages"]
            cursor = page.get("next_cursor")
            if not cursor:
                return messages


def small_window_socket(port):
    """A client socket whose receive buffer stays small: the engine's writes block as soon as it stops reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: no autotuning
    sock.connect(("127.0.0.1", port))
    return sock

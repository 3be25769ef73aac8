"""Webhook backends on loopback ports, served by gevent inside the test process.

Each records every event it receives and answers by a per-event handler, so a test can give it any
personality: streaming, JSON, slow, silent, broken, failing. Handlers return a WSGI-style triple
(status, headers, body iterable).
"""
import json
import socket
import time

import gevent
import gevent.event
import gevent.socket
from gevent.pywsgi import WSGIHandler, WSGIServer

from support.waiting import wait_until

CAPABILITIES = [
    {"id": "web_search", "name": "Web search", "enabled_by_default": True},
    {"id": "code_interpreter", "name": "Code interpreter", "enabled_by_default": False},
    {"id": "file_attachments", "name": "File attachments", "enabled_by_default": False},
]


def ndjson(*events):
    return b"".join((json.dumps(e) + "\n").encode() for e in events)


def chunk(text, kind="text"):
    return {"type": "chunk", "chunk": {"type": kind, "content": text}}


def complete(usage=None):
    return {"type": "complete", "metadata": {"usage": usage or {"input_tokens": 1, "output_tokens": 2,
                                                               "total_tokens": 3}}}


def json_answer(body, status="200 OK"):
    return status, [("Content-Type", "application/json")], [json.dumps(body).encode()]


def stream_answer(body_iter):
    return "200 OK", [("Content-Type", "application/x-ndjson")], body_iter


def words_answer(words, gate=None, after=1):
    """Stream words as chunks; with a gate, pause after `after` chunks until the gate is set."""
    def body():
        for index, word in enumerate(words):
            if gate is not None and index == after:
                gate.wait()
            yield ndjson(chunk(word))
        yield ndjson(complete())
    return stream_answer(body())


class _Handler(WSGIHandler):
    def __init__(self, sock, address, server, rfile=None):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.accepted_connections += 1  # one handler per accepted TCP connection (keep-alive reuses it)
        server.open_sockets.add(sock)
        super().__init__(sock, address, server, rfile)

    def get_environ(self):
        environ = super().get_environ()
        environ["test.socket"] = self.socket
        return environ


class Backend:
    def __init__(self, port=0):
        """`port`: a given one, to bring a backend back up where a stopped one listened."""
        self.received = []
        self.requests = []  # (event name, headers, raw body) as sent: for signature checks
        self.handlers = {}
        self.closed_connections = []  # (event name, time) when the engine hung up on a stream
        self.server = WSGIServer(("127.0.0.1", port), self._app, handler_class=_Handler, log=None, error_log=None)
        self.server.accepted_connections = 0
        self.server.open_sockets = set()
        self.server.start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self):
        """Down for real: the listener closed, and the engine's kept-alive connections cut too (gevent's
        server leaves the handlers of open connections running)."""
        self.server.stop(timeout=1)
        for sock in list(self.server.open_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server.open_sockets.clear()

    @property
    def accepted_connections(self):
        return self.server.accepted_connections

    def on(self, event, handler):
        self.handlers[event] = handler
        return self

    def events(self, name):
        return [e for e in self.received if e["event"] == name]

    def wait_for(self, name, count=1, timeout=10):
        return wait_until(lambda: len(self.events(name)) >= count and self.events(name), timeout,
                          f"{count} {name} event(s)")

    def watch_hangup(self, environ, name):
        """Record when the engine closes this request's connection (even if we never write again)."""
        sock = environ["test.socket"]

        def watch():
            try:
                gevent.socket.wait_read(sock.fileno())
                data = sock.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if not data:
                self.closed_connections.append((name, time.monotonic()))
        return gevent.spawn(watch)

    def _default(self, event):
        kind = event["event"]
        if kind == "session.created":
            return json_answer({"available_capabilities": CAPABILITIES})
        if kind == "session_type.health_check":
            return json_answer({"status": "healthy", "version": "1.0", "capabilities": CAPABILITIES})
        if kind in ("message.new", "message.recreate", "session.summary"):
            return stream_answer(iter([ndjson(chunk("Hello"), chunk(" world"), complete())]))
        return json_answer({})

    def _app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        event = json.loads(raw)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.requests.append((event["event"], headers, raw))
        event["_received_at"] = time.monotonic()
        self.received.append(event)
        handler = self.handlers.get(event["event"])
        status, headers, body = handler(event, environ) if handler else self._default(event)
        start_response(status, headers)
        return body


def gate():
    return gevent.event.Event()


def numbered_replies(backend):
    """Each reply (to message.new and message.recreate) names its turn: "reply 1", "reply 2", ..."""
    counter = {"n": 0}

    def answer(event, environ):
        counter["n"] += 1
        return stream_answer(iter([ndjson(chunk(f"reply {counter['n']}"), complete())]))
    backend.on("message.new", answer)
    backend.on("message.recreate", answer)

"""gunicorn settings for Chat Engine: gevent workers, long-lived streams, pool opened per worker.

No preload: each worker imports wsgi.py itself, so gevent patches before psycopg loads and the
connection pool is created after the fork, never shared.
"""
import json
import logging
import os
import shutil
import sys
import tempfile
import uuid

import gevent
import gunicorn.util
from gunicorn.workers.ggevent import GeventWorker

bind = os.environ.get("BIND", "127.0.0.1:8000")


def _usable_cores():
    """Cores this process may use: the CPU count, capped by a cgroup v2 quota (a container's CPU
    limit), since os.cpu_count() reports the host's cores inside a container."""
    cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


# One gevent worker per core: a worker is one CPU-bound Python process, so fewer leave cores idle.
workers = int(os.environ.get("WEB_CONCURRENCY") or _usable_cores())
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "2000"))
# A stream may legitimately run for the longest webhook timeout (300 s); gevent workers heartbeat
# independently of requests, so `timeout` only catches a frozen worker.
timeout = int(os.environ.get("WORKER_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
# How long a kept-alive connection may wait for its next request, that request's line and headers
# included (gunicorn's one timer covers both). Longer than a balancer's idle upstream connections
# (nginx: 60 s), so the balancer, not the engine, closes an idle one (docs/operations.md).
keepalive = int(os.environ.get("KEEPALIVE", "75"))
# A new connection's first request line and headers must have arrived within this.
header_timeout = float(os.environ.get("HEADER_TIMEOUT", "10"))


class ChatEngineWorker(GeventWorker):
    """gunicorn's gevent worker, with a new connection's first request bounded by HEADER_TIMEOUT rather
    than KEEPALIVE: a client that connects and then sends nothing, or its headers a byte at a time, is
    dropped after seconds. Later requests on a kept-alive connection keep KEEPALIVE: a balancer's
    pooled connections wait that long between requests."""

    def timeout_ctx(self):
        connection = gevent.getcurrent()  # one greenlet per connection, for all its requests
        if getattr(connection, "chat_engine_served", False):
            return super().timeout_ctx()
        connection.chat_engine_served = True
        return gevent.Timeout(min(header_timeout, self.cfg.keepalive), False)


def write_json_error(sock, status_int, reason, mesg):
    """gunicorn's answer to a request it refuses before the app sees it (a malformed request line or
    header, a control character in a header value, bad chunked framing), in the contract's error shape
    instead of gunicorn's HTML page. Its trace_id is logged next to gunicorn's own line."""
    trace = uuid.uuid4().hex
    client_error = status_int != 500  # 501: a transfer coding it does not implement, the client's doing too
    body = json.dumps({"error_code": "INVALID_REQUEST" if client_error else "INTERNAL_ERROR",
                       "message": (f"{reason}: {mesg}" if mesg else reason)[:300] if client_error else "internal error",
                       "details": {"trace_id": trace}}).encode()
    logging.getLogger("gunicorn.error").info("refused before the app: %s %s (trace_id %s)", status_int, reason, trace)
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


# The workers' error path calls gunicorn.util.write_error; the workers fork from this process.
gunicorn.util.write_error = write_json_error

worker_class = ChatEngineWorker  # gevent
preload_app = False
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
# Access and error lines with share tokens, query values (signatures, search text) and auth headers
# redacted. The module imports nothing from `app` (the master must not load psycopg).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from log_redaction import RedactingGunicornLogger as logger_class  # noqa: E402,F401

loglevel = os.environ.get("LOG_LEVEL", "info").lower()
limit_request_line = 8190

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chat-engine-metrics-")


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # stale files from an earlier run would be summed in
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory.startswith(tempfile.gettempdir()) and "chat-engine-metrics-" in directory:
        shutil.rmtree(directory, ignore_errors=True)

# gunicorn 27's control socket lives at one fixed path per user; several instances on one machine
# (the local cluster, the tests) would fight over it, and nothing here uses it.
control_socket_disable = True

# On SIGTERM, open streams get STREAM_GRACE_SECONDS to finish. Then each saves its partial reply as
# incomplete and tells its client to retry, before graceful_timeout, after which the master SIGKILLs.
stream_grace = float(os.environ.get("STREAM_GRACE_SECONDS", max(graceful_timeout - 5, 0)))


def post_worker_init(worker):
    import signal

    import gevent

    from app.streams.feed import end_feeds_for_shutdown
    from app.streams.relay import end_streams_for_shutdown

    stop_worker = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        gevent.spawn(end_feeds_for_shutdown)  # change feeds have nothing to finish: their clients reconnect
        gevent.spawn_later(stream_grace, end_streams_for_shutdown)
        stop_worker(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)

    # Lease renewal, the sweep of lapsed replies and the LISTEN connection run in every worker.
    engine = getattr(worker.wsgi, "extensions", {}).get("chat_engine")
    if engine is not None:
        engine.start_background()

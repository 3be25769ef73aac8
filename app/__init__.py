"""Chat Engine: the app factory."""
import atexit
import logging
import secrets
import time
import uuid

import gevent.monkey
import psycopg.waiting
from flask import Flask, g, request

from app import api, auth, cli, cors, errors, gevent_wait, logs, secret_keys, url_policy, web
from app.api import request_guard
from app.config import Config
from app.db import ON_PRIMARY, Database, read_after
from app.metrics import get_metrics
from app.read_slots import ReadSlots
from app.replicas import READ_AFTER_HEADER, Replicas, valid_token
from app.services import EXTENSION, Services
from app.streams.leases import LeaseKeeper
from app.streams.relay import RECEIVED_AT
from app.streams.slots import StreamSlots
from app.streams.wakeups import Signals
from app.webhooks.client import WebhookClient
from app.webhooks.outbox import Outbox

log = logging.getLogger(__name__)
access_log = logging.getLogger("chat_engine.access")


def check_gevent_wait(silence_seconds=None):
    """psycopg must use a wait function gevent can switch out of, or one query freezes the worker.
    Under gevent it gets app.gevent_wait's, which costs less CPU per query than the one it picks."""
    chosen = psycopg.waiting.wait.__name__
    if gevent.monkey.is_module_patched("socket"):
        if chosen == "wait_c":
            raise RuntimeError("psycopg was imported before gevent patched the standard library: "
                               "it chose the blocking wait_c; patch first (see wsgi.py)")
        chosen = gevent_wait.install(silence_seconds)
    log.info("psycopg wait function: %s", chosen)
    return chosen


def create_app(config=None):
    config = config or Config()
    logs.configure(config.log_level)
    check_gevent_wait(config.db_silence_seconds)
    auth.check_config(config)
    secret_keys.check(config)
    url_policy.parse_networks(tuple(config.webhook_allowed_networks))  # a bad CIDR stops the start

    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.sort_keys = False

    metrics = get_metrics()
    # Names this worker to PostgreSQL: its live replies record it, its connections hold a lock on it.
    owner_key = secrets.randbelow(999_999_999) + 1  # nine digits at most: what migration 012 reads as a key
    db = Database(config, owner_key) if config.database_url else None
    if db is not None and db.read_pool is not None:
        db.replicas = Replicas(db.read_pool, config, metrics)
    if db is not None:
        db.open()
        atexit.register(db.close)  # CLI runs end without a server shutdown to close it
    signals = Signals(config.session_database_url, config.db_connect_timeout_seconds, owner_key=owner_key,
                      owner_settle_seconds=config.owner_settle_seconds) if db is not None else None
    webhooks = WebhookClient(config, metrics)
    app.extensions[EXTENSION] = Services(
        config, db, webhooks,
        StreamSlots(config.max_streams_per_worker, config.max_streams_per_client, metrics), metrics,
        signals=signals, leases=LeaseKeeper(db, config, signals) if db is not None else None,
        reads=ReadSlots(config.max_concurrent_reads_per_client, config.max_concurrent_reads_per_worker,
                        wait_seconds=config.db_pool_timeout_seconds),
        outbox=Outbox(db, webhooks, config, metrics) if db is not None else None)

    errors.register(app)
    api.register(app)
    web.register(app, config)
    cli.register(app)
    _register_request_hooks(app, metrics, db)
    cors.register(app, config.cors_allowed_origins)
    return app


# A response to one of these that succeeded may have written: with replicas it says where its reads must look.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _register_request_hooks(app, metrics, db):
    pool_gauges_due = 0.0
    replicas = db is not None and db.replicas is not None

    @app.before_request
    def start_request():
        request.environ[RECEIVED_AT] = time.monotonic()
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if 0 < len(supplied) <= 100 and supplied.isprintable() else uuid.uuid4().hex
        errors.trace_id()
        request_guard.check_request_text(request.path, request.args)
        request_guard.check_streamed_body_size(request)
        token = request.headers.get(READ_AFTER_HEADER)
        if token is not None and not valid_token(token):
            raise errors.invalid(f"{READ_AFTER_HEADER} must be a token a write's response carried",
                                 field=READ_AFTER_HEADER)
        # A request that writes reads on the primary: its answer shows what it just did.
        read_after.set(ON_PRIMARY if request.method in WRITE_METHODS else token)

    @app.teardown_request
    def forget_read_after(exc):
        read_after.set(None)  # a kept-alive connection's next request runs in the same greenlet

    @app.after_request
    def finish_request(response):
        nonlocal pool_gauges_due
        response.headers["X-Request-Id"] = g.get("request_id", "")
        response.headers["X-Trace-Id"] = g.get("trace_id", "")
        if replicas and request.method in WRITE_METHODS and 200 <= response.status_code < 300:
            # Asked after the view's transactions committed (a stream's first one included): a read that
            # presents it sees this write on whichever replica or instance it lands.
            position = db.write_position()
            if position is not None:
                response.headers[READ_AFTER_HEADER] = position
        started = request.environ.get(RECEIVED_AT)
        if started is not None:
            seconds = time.monotonic() - started
            metrics.observe_request(request.method, request.url_rule.rule if request.url_rule else None,
                                    response.status_code, seconds)
            access_log.info("%s %s %s", request.method, request.path, response.status_code,
                            extra={"method": request.method, "status": response.status_code,
                                   "duration_ms": round(seconds * 1000, 2)})
        if db is not None and time.monotonic() >= pool_gauges_due:
            # Sampled at most once a second: reading the pool's stats on every request cost more
            # than the gauges are worth between two scrapes.
            pool_gauges_due = time.monotonic() + 1.0
            metrics.pool(db.stats())
        return response

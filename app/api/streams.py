"""Streaming NDJSON responses within the per-worker stream cap: a new exchange (relayed from the
backend) or a rejoin of a reply that already exists (app/rejoin.py)."""
from flask import Response, request

from app.api.common import engine
from app.errors import unavailable
from app.rejoin import Rejoin
from app.streaming import NDJSON, Relay


def stream_response(start_exchange, resumable=False):
    """`start_exchange()` runs transaction 1 and returns an Exchange (the relay does the rest), or a
    Rejoin (an idempotent retry of an earlier request)."""
    parts = engine()
    if not parts.slots.try_acquire():
        raise unavailable("too many concurrent streams on this instance", retry_after=1, limit_type="concurrent")
    parts.metrics.stream_opened()
    try:
        started = start_exchange()
    except BaseException:  # 4xx, breaker open (503, errors.py), database down: nothing was streamed
        _release(parts)
        raise
    if isinstance(started, Rejoin):
        started.attach(request.environ.get("gunicorn.socket"), lambda: _release(parts))
        return _respond(started, started.headers())
    return _respond(Relay(started, parts, request.environ, resumable=resumable), started.headers())


def rejoin_response(message_id, offset, headers=None):
    """GET /messages/{id}/stream: the stored chunks after `offset`, then the live ones, then the end."""
    parts = engine()
    if not parts.slots.try_acquire():
        raise unavailable("too many concurrent streams on this instance", retry_after=1, limit_type="concurrent")
    parts.metrics.stream_opened()
    rejoin = Rejoin(parts.db, parts.signals, message_id, offset, headers, on_close=lambda: _release(parts),
                    sock=request.environ.get("gunicorn.socket"))
    return _respond(rejoin, rejoin.headers())


def _release(parts):
    parts.slots.release()
    parts.metrics.stream_closed()


def _respond(streamer, headers):
    response = Response(streamer.lines(), mimetype=NDJSON, headers={
        **headers, "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(streamer.close)
    return response

"""Turning an Exchange into a streaming NDJSON response, within the per-worker stream cap."""
from flask import Response, request

from app.api.common import engine
from app.errors import unavailable
from app.streaming import NDJSON, Relay


def stream_response(start_exchange):
    """`start_exchange()` runs transaction 1 and returns an Exchange; the relay does the rest."""
    parts = engine()
    if not parts.slots.try_acquire():
        raise unavailable("too many concurrent streams on this instance", retry_after=1, limit_type="concurrent")
    parts.metrics.stream_opened()
    try:
        exchange = start_exchange()
    except BaseException:  # 4xx, breaker open (503, errors.py), database down: nothing was streamed
        parts.slots.release()
        parts.metrics.stream_closed()
        raise
    relay = Relay(exchange, parts.config, parts.slots, request.environ, parts.metrics)
    response = Response(relay.lines(), mimetype=NDJSON, headers={
        **exchange.headers(), "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(relay.close)
    return response

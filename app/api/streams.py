"""Turning an Exchange into a streaming NDJSON response, within the per-client and per-worker stream caps."""
from flask import Response, current_app, g, request

from app.api.common import engine
from app.errors import unavailable
from app.stream_slots import ClientStreamSlots, StreamTicket, too_many_streams
from app.streaming import NDJSON, Relay


def _client_slots(config):
    return current_app.extensions.setdefault("client_stream_slots", ClientStreamSlots(config.max_streams_per_client))


def _take_slots(parts):
    """A ticket for one worker slot and one of the caller's; the client's cap is checked first so that
    one client at its cap is told 429 (its own limit), not 503 (the instance's)."""
    client_slots = _client_slots(parts.config)
    client_id = g.caller.client_id
    if not client_slots.try_acquire(client_id):
        raise too_many_streams(client_slots.limit)
    if not parts.slots.try_acquire():
        client_slots.release(client_id)
        raise unavailable("too many concurrent streams on this instance", retry_after=1, limit_type="concurrent")
    return StreamTicket(parts.slots, client_slots, client_id)


def stream_response(start_exchange):
    """`start_exchange()` runs transaction 1 and returns an Exchange; the relay does the rest."""
    parts = engine()
    ticket = _take_slots(parts)
    parts.metrics.stream_opened()
    try:
        exchange = start_exchange()
    except BaseException:  # 4xx, breaker open (503, errors.py), database down: nothing was streamed
        ticket.release()
        parts.metrics.stream_closed()
        raise
    relay = Relay(exchange, parts.config, ticket, request.environ, parts.metrics)
    response = Response(relay.lines(), mimetype=NDJSON, headers={
        **exchange.headers(), "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(relay.close)
    return response

"""Streaming NDJSON responses within the per-client and per-worker stream caps: a new exchange (relayed
from the backend) or a rejoin of a reply that already exists (app/rejoin.py)."""
from flask import Response, current_app, g, request

from app.errors import unavailable
from app.rejoin import Rejoin, read_limits
from app.relay import NDJSON, Relay
from app.services import current_services
from app.stream_slots import ClientStreamSlots, StreamTicket, too_many_streams


def _client_slots(config):
    return current_app.extensions.setdefault("client_stream_slots", ClientStreamSlots(config.max_streams_per_client))


def _open_stream(services):
    """A ticket for one worker slot and one of the caller's; the client's cap is checked first so that
    one client at its cap is told 429 (its own limit), not 503 (the instance's)."""
    client_slots = _client_slots(services.config)
    client_id = g.caller.client_id
    if not client_slots.try_acquire(client_id):
        raise too_many_streams(client_slots.limit)
    if not services.slots.try_acquire():
        client_slots.release(client_id)
        raise unavailable("too many concurrent streams on this instance", retry_after=1, limit_type="concurrent")
    services.metrics.stream_opened()
    return _ClosingTicket(StreamTicket(services.slots, client_slots, client_id), services.metrics)


class _ClosingTicket:
    """The stream's slots and its place in the open-streams gauge, given back together, once."""

    def __init__(self, ticket, metrics):
        self._ticket = ticket
        self._metrics = metrics
        self._open = True

    def release(self):
        if self._open:
            self._open = False
            self._ticket.release()
            self._metrics.stream_closed()


def stream_response(start_exchange, resumable=False):
    """`start_exchange()` runs transaction 1 and returns an Exchange (the relay does the rest), or a
    Rejoin (an idempotent retry of an earlier request)."""
    services = current_services()
    ticket = _open_stream(services)
    try:
        started = start_exchange()
    except BaseException:  # 4xx, breaker open (503, errors.py), database down: nothing was streamed
        ticket.release()
        raise
    if isinstance(started, Rejoin):
        started.attach(request.environ.get("gunicorn.socket"), ticket.release, **read_limits(services.config))
        return _respond(started, started.headers())
    return _respond(Relay(started, services, request.environ, ticket, resumable=resumable), started.headers())


def rejoin_response(message_id, offset, headers=None):
    """GET /messages/{id}/stream: the stored chunks after `offset`, then the live ones, then the end."""
    services = current_services()
    ticket = _open_stream(services)
    rejoin = Rejoin(services.db, services.signals, message_id, offset, headers, on_close=ticket.release,
                    sock=request.environ.get("gunicorn.socket"), **read_limits(services.config))
    return _respond(rejoin, rejoin.headers())


def _respond(streamer, headers):
    response = Response(streamer.lines(), mimetype=NDJSON, headers={
        **headers, "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(streamer.close)
    return response

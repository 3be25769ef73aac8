"""Streaming NDJSON responses within the per-client and per-worker stream caps: a new exchange (relayed
from the backend), or a rejoin of a reply that already exists (a rejoin, or an idempotent retry)."""
from flask import Response, g, request

from app import ids
from app.chat.exchanges import Options, Queued
from app.chat.idempotency import Replayed
from app.services import current_services
from app.streams import follow_ups, starting
from app.streams.feed import FeedStream
from app.streams.rejoin import Rejoin, read_limits
from app.streams.relay import NDJSON, Relay

QUEUED_HEADER = "X-Chat-Engine-Queued"        # `if_busy: enqueue` found a reply streaming: this one waits
WAITS_FOR_HEADER = "X-Chat-Engine-Waits-For"  # the reply it waits for (after any queued before it)


def stream_response(place, options=None):
    """`place()` runs transaction 1 (an app.chat.exchanges start_* call made with `options`); the relay
    does the rest. A retry with an Idempotency-Key seen before joins the earlier reply instead."""
    services = current_services()
    options = options or Options(if_busy="parallel")
    ticket = services.slots.open(g.caller.client_id)
    try:
        exchange = starting.start(services.db, services.webhooks, services.signals, options, place)
    except Replayed as replay:
        return _rejoin(services, ticket, replay.message_id, 0, replay.headers)
    except BaseException:  # 4xx, breaker open (503, errors.py), database down: nothing was streamed
        ticket.release()
        raise
    if isinstance(exchange, Queued):  # it waits for the reply streaming: the sender follows it as a rejoiner
        return _rejoin(services, ticket, exchange.assistant_message_id, 0, {
            "X-User-Message-Id": ids.message_gts(exchange.user_message_id), QUEUED_HEADER: "true",
            WAITS_FOR_HEADER: ids.message_gts(exchange.waits_for)})
    return _respond(Relay(exchange, services, request.environ, ticket, resumable=options.resumable,
                          after_stored=follow_ups.after_stored(services, exchange)),
                    exchange.headers())


def rejoin_response(message_id, offset):
    """GET /messages/{id}/stream: the stored chunks after `offset`, then the live ones, then the end."""
    services = current_services()
    return _rejoin(services, services.slots.open(g.caller.client_id), message_id, offset)


def _rejoin(services, ticket, message_id, offset, headers=None):
    rejoin = Rejoin(services.db, services.signals, message_id, offset, headers, on_close=ticket.release,
                    sock=request.environ.get("gunicorn.socket"), **read_limits(services.config))
    return _respond(rejoin, rejoin.headers())


def _respond(streamer, headers):
    response = Response(streamer.lines(), mimetype=NDJSON, headers={
        **headers, "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(streamer.close)
    return response


def feed_response(place):
    """GET /events: the caller's change feed from `place`, within the caller's stream slots."""
    services = current_services()
    ticket = services.slots.open(g.caller.client_id)
    stream = FeedStream(services.db, services.signals, g.caller.client_id, place, on_close=ticket.release,
                        sock=request.environ.get("gunicorn.socket"),
                        write_timeout_seconds=services.config.stream_write_timeout_seconds)
    return _respond(stream, {})

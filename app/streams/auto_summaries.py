"""Summaries that keep up (issue 24 §1): once a reply is stored and the session's path has grown
`auto_summary_every_messages` past its last summary, a summary is asked for in the background.

It goes the way a client's `POST /sessions/{id}/summarize` goes (chat.exchanges: the summarizer or the
backend, its breaker, its timeouts, `max_reply_seconds`), relayed by a Relay with no client, and is stored in
the session's metadata with the message it covers up to. One at a time per session across all instances
(the session's `summary_runs` row, claimed in the summary's first transaction); a worker runs at most
MAX_STREAMS_PER_CLIENT of them at once (they hold stream slots of one engine client id). A summary that
fails keeps the previous one; the next stored reply asks again.
"""
import logging

import gevent

from app.chat import exchanges
from app.errors import ApiError
from app.streams.relay import Relay
from app.webhooks.errors import BreakerOpen

log = logging.getLogger(__name__)

SLOT_HOLDER = "chat-engine:auto-summary"  # the stream slots' client id of background summaries


def follow_up(services, exchange):
    """What the relay of `exchange` calls once its reply is stored complete: None unless a summary is due
    then; else a call that asks for it in a greenlet of its own, off the reply's path."""
    if exchange.summary_owner is None:
        return None
    return lambda: gevent.spawn(_summarize, services, exchange.session_id, exchange.summary_owner)


def _summarize(services, session_id, client_id):
    try:
        ticket = services.slots.open(SLOT_HOLDER)
    except ApiError:
        log.info("auto summary of %s skipped: this worker runs as many as it may", session_id)
        return
    try:
        exchange = exchanges.start_background_summary(services.db, services.webhooks, session_id, client_id)
    except (ApiError, BreakerOpen) as exc:
        ticket.release()
        log.info("auto summary of %s not started: %s", session_id, exc)
        return
    except Exception:  # the database may be down; the next stored reply asks again
        ticket.release()
        log.exception("auto summary of %s not started", session_id)
        return
    if exchange is None:
        ticket.release()
        return
    relay = Relay(exchange, services, {}, ticket, resumable=True)
    for _ in relay.lines():  # no client: the lines go nowhere; the relay stores the summary at the end
        pass

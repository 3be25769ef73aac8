"""What runs once a reply is stored, with no client of its own: the next reply waiting in the session
(`if_busy: enqueue`), and a summary that keeps up (`auto_summary_every_messages`).

Both are exchanges like any other (chat.exchanges: the backend or summarizer, its breaker, its timeouts,
`max_reply_seconds`), relayed by a Relay whose lines go nowhere (`run_detached`); a client follows a queued
reply by rejoining it (its sender's response does just that), from any instance.

- **Queued replies.** The instance that stores a reply's end, and sees replies waiting in its session (the
  same statement says so), starts the oldest (chat.exchanges.start_queued: under the session's lock, only
  when no reply of the owner streams there). As a backstop for an instance that died in between, every
  worker looks for idle queues every LEASE_SECONDS/2 (`watch_queues`).
- **Summaries.** Once the path has grown `auto_summary_every_messages` past the last summary, one is asked
  for; one at a time per session across all instances (the session's `summary_runs` row, claimed in the
  summary's first transaction). One that fails keeps the previous summary; the next stored reply asks again.

A worker runs at most MAX_STREAMS_PER_CLIENT of each at once: they hold stream slots of an engine client id.
"""
import logging
import random

import gevent

from app.chat import exchanges
from app.db import queries as q
from app.errors import ApiError
from app.streams.relay import Relay
from app.webhooks.errors import BreakerOpen

log = logging.getLogger(__name__)

SUMMARY_SLOTS = "chat-engine:auto-summary"  # the stream slots' client ids of background work
QUEUE_SLOTS = "chat-engine:queued-reply"
IDLE_QUEUES_PER_ROUND = 50


def after_stored(services, exchange):
    """The relay's call once `exchange`'s end is stored (with its outcome)."""
    def follow(outcome):
        if exchange.queue_waiting:
            gevent.spawn(start_queued, services, exchange.session_id)
        if outcome.complete and exchange.summary_owner is not None:
            gevent.spawn(_summarize, services, exchange.session_id, exchange.summary_owner)
    return follow


def run_detached(services, exchange, ticket):
    """Relay `exchange` with no client: it runs to its end and is stored, and its follow-ups run."""
    relay = Relay(exchange, services, {}, ticket, resumable=True, after_stored=after_stored(services, exchange))
    for _ in relay.lines():  # the lines go nowhere; rejoiners read the chunk log
        pass


def start_queued(services, session_id):
    """Start the session's next waiting reply, if none of the owner's streams there (see the module doc)."""
    _start(services, QUEUE_SLOTS, f"queued reply of {session_id}",
           lambda: exchanges.start_queued(services.db, services.webhooks, session_id))


def _summarize(services, session_id, client_id):
    _start(services, SUMMARY_SLOTS, f"auto summary of {session_id}",
           lambda: exchanges.start_background_summary(services.db, services.webhooks, session_id, client_id))


def _start(services, holder, what, start):
    try:
        ticket = services.slots.open(holder)
    except ApiError:
        log.info("%s deferred: this worker runs as many as it may", what)
        return
    try:
        exchange = start()
    except (ApiError, BreakerOpen) as exc:
        ticket.release()
        log.info("%s not started: %s", what, exc)
        return
    except Exception:  # the database may be down: the next stored reply, or the backstop, tries again
        ticket.release()
        log.exception("%s not started", what)
        return
    if exchange is None:
        ticket.release()
        return
    run_detached(services, exchange, ticket)


def watch_queues(services):
    """Every LEASE_SECONDS/2: start the next reply of sessions whose queue waits with nothing streaming."""
    while True:
        gevent.sleep(services.config.lease_seconds / 2 * random.uniform(0.8, 1.0))
        try:
            with services.db.transaction() as conn:
                idle = q.sessions_with_idle_queues(conn, limit=IDLE_QUEUES_PER_ROUND)
        except Exception as exc:  # noqa: BLE001 - the database may be down; the next round tries again
            log.warning("looking for idle queues failed: %s", exc)
            continue
        for row in idle:
            gevent.spawn(start_queued, services, row["session_id"])

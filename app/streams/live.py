"""Replies in flight, seen from any instance: stop one, wait for its end, end one whose instance
cannot (a lapsed lease: `interrupted`; a stop not carried out in time), and the sweep.

Whoever deletes a reply's live_replies row stores its end; everyone else leaves it alone, so a reply
is ended exactly once however many instances race for it.
"""
import logging
import time

import gevent
import gevent.event
from psycopg.types.json import Jsonb

from app.chat import replies
from app.db import queries as q
from app.errors import message_not_found, refused_by_database
from app.metrics import get_metrics
from app.streams.wakeups import OWNER_CONFIRM_SECONDS
from app.webhooks import events, outbox
from app.webhooks.replies import merge_chunks

log = logging.getLogger(__name__)


def request_stop(db, session_id, message_id, reason):
    """Ask the streaming instance to stop the reply; False when it is not streaming."""
    with db.transaction() as conn:
        return q.request_stop(conn, session_id=session_id, message_id=message_id, reason=reason) is not None


def wait_ended(db, signals, session_id, message_id, seconds):
    """Wait until the reply is no longer live (woken by its `end` notice; rechecked meanwhile)."""
    woken = gevent.event.Event()
    subscription = signals.subscribe(message_id, lambda kind: woken.set()) if signals is not None else None
    deadline = time.monotonic() + seconds
    try:
        while True:
            woken.clear()
            with db.transaction() as conn:
                if q.live_reply(conn, session_id=session_id, message_id=message_id) is None:
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            woken.wait(timeout=min(remaining, 0.25 if subscription is None else 1.0))
    finally:
        if subscription is not None:
            signals.unsubscribe(subscription)


def end_if_owner_gone(db, session_id, message_id, judge_settle):
    """End a reply whose instance is dead: its worker's lock is missing now and still
    missing OWNER_CONFIRM_SECONDS later (a listener that reconnects holds none for a moment). Asked only
    of a reply found in a send's way, so it costs the common send nothing. Returns whether the owner was
    suspected, and so whether the caller should look at the session again."""
    if judge_settle is None:
        return False
    with db.transaction() as conn:
        if not q.reply_owner_gone(conn, session_id=session_id, message_id=message_id, judge_settle=judge_settle):
            return False
    get_metrics().owner_suspected()
    gevent.sleep(OWNER_CONFIRM_SECONDS)  # no connection held meanwhile
    # Its claim looks at the lock again.
    end_abandoned(db, session_id, message_id, "interrupted", lapsed_only=True, judge_settle=judge_settle)
    return True


def end_abandoned(db, session_id, message_id, reason, lapsed_only, judge_settle=None, tell_backend=False):
    """End a reply here: its content rebuilt from its stored chunks, incomplete, with `reason`; with
    `tell_backend`, its backend's `message.aborted` is committed with it (the outbox delivers it).
    Returns the content stored, or None when it was not live any more (its instance, or another,
    ended it). Content the database refuses does not keep the reply live (chat.replies.end_unstored)."""
    try:
        return _end_from_chunks(db, session_id, message_id, reason, lapsed_only, judge_settle, tell_backend)
    except Exception as exc:
        if not refused_by_database(exc):
            raise  # an outage: the next sweep, or the next send, tries again
        log.error("reply %s: the database refused its content (%s); ending it without", message_id, exc)
        return replies.end_unstored(db, session_id, message_id, lapsed_only, judge_settle)


def _end_from_chunks(db, session_id, message_id, reason, lapsed_only, judge_settle, tell_backend):
    reply = {"session_id": session_id, "message_id": message_id}
    with db.transaction() as conn:
        if q.live_reply(conn, **reply) is None:
            return None
        q.lock_session_row(conn, id=session_id)  # the session row first, as every tree write
        if q.claim_live_reply(conn, **reply, lapsed_only=lapsed_only, judge_settle=judge_settle) is None:
            return None
        parts = merge_chunks(chunk for batch in q.all_reply_chunks(conn, **reply) for chunk in batch["chunks"])
        q.end_abandoned_reply(conn, **reply, content=Jsonb(parts), metadata=Jsonb({"stop_reason": reason}))
        if tell_backend:
            outbox.enqueue(conn, q.session_type_of(conn, id=session_id),
                           events.message_aborted(session_id, message_id, parts))
    log.info("reply %s ended here as %s", message_id, reason)
    get_metrics().reply_ended(reason)
    return parts


def stop_and_wait(db, signals, session_id, message_id, reason, seconds):
    """Stop a reply wherever it streams; if its instance does not end it in time, end it here (and
    tell its backend, as that instance would have). Returns False when there was nothing to stop."""
    if not request_stop(db, session_id, message_id, reason):
        return False
    if not wait_ended(db, signals, session_id, message_id, seconds):
        end_abandoned(db, session_id, message_id, reason, lapsed_only=False, tell_backend=True)
    return True


def stop(db, signals, caller, message_id, seconds):
    """POST /messages/{id}/stop: the caller's reply stops (stored incomplete, `cancelled`); one still
    waiting (`if_busy: enqueue`) leaves the queue and never starts."""
    with db.transaction() as conn:
        owned = q.get_owned_message(conn, message_id=message_id, client_id=caller.client_id)
        if owned is None:
            raise message_not_found(message_id)
        q.lock_session_row(conn, id=owned["session_id"])  # the session row first, as every tree write
        if q.cancel_queued_reply(conn, session_id=owned["session_id"], message_id=message_id,
                                 reason="cancelled") is not None:
            return True
    return stop_and_wait(db, signals, owned["session_id"], message_id, "cancelled", seconds)


def cancel_queue(db, session_id, reason):
    """Every reply waiting in the session leaves the queue, stored incomplete with `reason` (a send that
    interrupts: it comes before them)."""
    with db.transaction() as conn:
        if q.lock_session_row(conn, id=session_id) is None:
            return
        for row in q.queued_replies_of_session(conn, session_id=session_id):
            q.cancel_queued_reply(conn, session_id=session_id, message_id=row["message_id"], reason=reason)


def sweep(db, judge_settle, limit=20):
    """End as `interrupted` the replies whose instance died: their lease lapsed, or their worker's lock is
    missing, and still missing OWNER_CONFIRM_SECONDS later (`judge_settle`: see Signals.judge_settle;
    None: leases only). Any instance runs it."""
    with db.transaction() as conn:
        abandoned = q.lapsed_replies(conn, limit=limit, judge_settle=judge_settle)
    suspected = sum(row["owner_missing"] for row in abandoned)
    if suspected:
        get_metrics().owner_suspected(suspected)
        gevent.sleep(OWNER_CONFIRM_SECONDS)  # each claim below looks at the lock again
    ended = 0
    for row in abandoned:
        try:
            ended += end_abandoned(db, row["session_id"], row["message_id"], "interrupted", lapsed_only=True,
                                   judge_settle=judge_settle) is not None
        except Exception as exc:  # noqa: BLE001 - the next sweep retries
            log.warning("could not end lapsed reply %s: %s", row["message_id"], exc)
    return ended

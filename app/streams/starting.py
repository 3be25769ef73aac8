"""Starting an exchange when the session may be busy: the `if_busy` policy of sends and recreates.

The domain (app.chat.exchanges) places a turn, or raises Busy when the session's reply still streams;
here that reply is made way for (ended if its instance is gone, stopped for `interrupt`) and the
placement tried again, or the send is refused with 409 `reply_in_progress`.
"""
import psycopg

from app import ids
from app.chat.exchanges import Busy
from app.errors import conflict
from app.streams import live

MAKE_WAY_ATTEMPTS = 3  # senders superseding each other: each may find the other's reply in its way


def start(db, webhooks, signals, options, place):
    """`place()`: one of app.chat.exchanges' start_* calls, made with `options`; returns its Exchange.
    idempotency.Replayed passes through: the caller joins the earlier reply instead."""
    for _ in range(MAKE_WAY_ATTEMPTS):
        try:
            return place()
        except Busy as busy:
            _make_way(db, webhooks, signals, busy, options.if_busy)
        except psycopg.errors.UniqueViolation:
            if options.idempotency is None:
                raise
            # A concurrent duplicate (same Idempotency-Key) committed first: the retry finds its result.
    try:
        return place()
    except Busy as busy:  # still busy after making way every time
        raise _in_progress(busy) from None


def _make_way(db, webhooks, signals, busy, if_busy):
    if busy.lapsed:  # its instance stopped renewing the lease: end it now, not at the sweep
        live.end_abandoned(db, busy.session_id, busy.message_id, "interrupted", lapsed_only=True)
        return
    judge_settle = signals.judge_settle if signals is not None else None
    # Its instance died: its lock is gone.
    if live.end_if_owner_gone(db, busy.session_id, busy.message_id, judge_settle):
        return
    if if_busy == "interrupt":
        live.cancel_queue(db, busy.session_id, "superseded")  # what waited behind it must not start first
        live.stop_and_wait(db, signals, busy.session_id, busy.message_id, "superseded",
                           webhooks.config.stop_wait_seconds)
        return
    raise _in_progress(busy)


def _in_progress(busy):
    public_id = ids.message_gts(busy.message_id)
    return conflict("a reply is still streaming in this session; rejoin it (GET /messages/{id}/stream), stop it, "
                    "or send with if_busy=interrupt", reason="reply_in_progress", field="if_busy",
                    resource_id=busy.message_id, headers={"X-In-Flight-Message-Id": public_id})

"""Leases on live replies: the instance streaming a reply renews its lease while it
streams; a reply whose lease lapsed (its instance died) is ended as `interrupted` by the sweep, which
every worker of every instance runs, so no restart is needed for the session to accept messages again.

Renewal is one UPDATE per worker for all its live replies. Its answer doubles as a backstop for lost
notices: a stop asked for meanwhile, or a reply another instance has ended, is carried out here.

The sweep also prunes, in bounded batches: expired idempotency keys, ended replies' chunk logs past their
grace, share links past their retention, dead-lettered notices past theirs, expired exports. A greenlet of
its own runs the retention sweep (sessions past their type's retention_days; app/chat/erasure.py).
"""
import logging
import random

import gevent

from app.chat import erasure, exports
from app.db import queries as q
from app.streams import live

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, db, config, signals=None):
        self.db = db
        self.signals = signals  # app.streams.wakeups.Signals: whether this worker may judge other workers dead
        self.lease_seconds = config.lease_seconds
        self.chunk_log_grace_seconds = config.chunk_log_grace_seconds
        self.share_retention_days = config.share_retention_days
        self.notice_dead_letter_days = config.notice_dead_letter_days
        self.retention_sweep_seconds = config.retention_sweep_seconds
        self.feed_retention_seconds = config.feed_retention_seconds
        self._relays = {}  # message uuid -> Relay, this worker's live replies
        self._greenlets = []

    def start(self):
        if not self._greenlets and self.db is not None:
            self._greenlets = [gevent.spawn(self._every, self.lease_seconds / 3, self.renew),
                               gevent.spawn(self._every, self.lease_seconds / 2, self.sweep),
                               # Its own greenlet: a run may take a while, and must not delay lease sweeps.
                               gevent.spawn(self._every, min(60.0, self.retention_sweep_seconds), self.retention)]

    def stop(self):
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        self._greenlets = []

    def hold(self, relay):
        self.start()
        self._relays[relay.message_id] = relay

    def release(self, relay):
        if self._relays.get(relay.message_id) is relay:
            del self._relays[relay.message_id]

    @staticmethod
    def _every(seconds, work):
        while True:
            gevent.sleep(seconds * random.uniform(0.8, 1.0))  # jitter: workers do not renew in lockstep
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - the database may be down; try again next round
                log.warning("%s failed: %s", work.__name__, exc)

    def renew(self):
        relays = dict(self._relays)
        if not relays:
            return
        with self.db.transaction(reserved=True) as conn:  # a lease lapsing under load would end live replies
            rows = q.renew_leases(conn, session_ids=[relay.session_id for relay in relays.values()],
                                  message_ids=list(relays), lease_seconds=self.lease_seconds)
        still_live = {row["message_id"]: row["stop_requested"] for row in rows}
        for message_id, relay in relays.items():
            if message_id not in still_live:
                relay.stop("interrupted")  # ended elsewhere while we were stalled: stop relaying
            elif still_live[message_id]:
                relay.stop(still_live[message_id])

    def sweep(self):
        ended = live.sweep(self.db, judge_settle=self.signals.judge_settle if self.signals is not None else None)
        self.prune()
        return ended

    def retention(self):
        """Sessions past their type's retention_days, deleted, when it is this worker's turn."""
        return erasure.sweep_retention(self.db, self.retention_sweep_seconds)

    def prune(self, limit=1000):
        """One bounded batch of each kind of row that would otherwise grow without bound, each in a short
        transaction of its own: expired idempotency keys, ended replies' chunk logs past their grace, share
        links past their retention, notices dead-lettered past theirs, change feed events and feeds past the
        feed's retention, expired exports."""
        for prune in (lambda conn: q.delete_expired_idempotency_keys(conn, limit=limit),
                      lambda conn: q.prune_chunk_logs(conn, grace_seconds=self.chunk_log_grace_seconds, limit=limit),
                      lambda conn: q.prune_ended_shares(conn, retention_days=self.share_retention_days, limit=limit),
                      lambda conn: q.prune_dead_notices(conn, retention_days=self.notice_dead_letter_days,
                                                        limit=limit),
                      lambda conn: q.prune_client_events(conn, retention_seconds=self.feed_retention_seconds,
                                                         limit=limit)):
            with self.db.transaction() as conn:
                if q.try_prune_lock(conn):  # one worker at a time prunes; the others would pick the same rows
                    prune(conn)
        exports.purge_expired(self.db)  # one bounded batch a round, not only when the next export is stored

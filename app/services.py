"""A worker's long-lived services, built once by create_app() and reached through current_services()
from views, CLI commands and auth (never imported state: each worker builds its own after the fork)."""
from dataclasses import dataclass

import gevent
from flask import current_app

from app.config import Config
from app.db import Database
from app.read_slots import ReadSlots
from app.streams import follow_ups
from app.streams.leases import LeaseKeeper
from app.streams.slots import StreamSlots
from app.streams.wakeups import Signals
from app.webhooks.client import WebhookClient
from app.webhooks.outbox import Outbox

EXTENSION = "chat_engine"  # the key in app.extensions


@dataclass
class Services:
    """The config, database pool, webhook client, stream and read slots, metrics and notice outbox of one
    worker."""
    config: Config
    db: Database
    webhooks: WebhookClient
    slots: StreamSlots           # the caps on concurrent streams, per worker and per client
    metrics: object
    signals: Signals = None      # LISTEN/NOTIFY wake-ups across instances (one connection per worker)
    leases: LeaseKeeper = None   # renews this worker's leases, sweeps lapsed ones
    reads: ReadSlots = None      # bounds on concurrent expensive reads, per client and per worker
    outbox: Outbox = None        # delivers backend notices written in transactions (app/webhooks/outbox.py)

    def start_background(self):
        """Called in each gunicorn worker after fork (gunicorn.conf.py), never by the CLI or tests in-process."""
        if self.signals is not None:
            self.signals.start()
        if self.leases is not None:
            self.leases.start()
        if self.outbox is not None:
            self.outbox.start()
        if self.db is not None:
            gevent.spawn(follow_ups.watch_queues, self)


def current_services():
    return current_app.extensions[EXTENSION]

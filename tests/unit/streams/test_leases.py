"""app/streams/leases.py in-process, in one rolled-back transaction: the renewal that keeps this worker's
replies leased is also how it hears, without a notice, that one was stopped or ended elsewhere."""
from app.chat import exchanges
from app.db import queries as q
from app.streams import live
from app.streams.leases import LeaseKeeper
from support.inprocess import make_config


class RelayStandIn:
    """What the keeper holds of a relay: its reply's session and id, and the stop it is told."""

    def __init__(self, session_id, message_id):
        self.session_id = session_id
        self.message_id = message_id
        self.stopped = []

    def stop(self, reason):
        self.stopped.append(reason)


def lease_of(conn, message_id):
    return conn.execute("SELECT lease_expires_at FROM live_replies WHERE message_id = %s",
                        (message_id,)).fetchone()["lease_expires_at"]


def test_renewal_extends_the_leases_and_carries_out_stops_and_ends_made_elsewhere(conn, database, webhooks, caller,
                                                                                   make_session):
    streaming, stopped, ended = (exchanges.start_send(database, webhooks, caller, make_session(), text)
                                 for text in ("a", "b", "c"))
    keeper = LeaseKeeper(database, make_config(lease_seconds=600))
    relays = {exchange.message_id: RelayStandIn(exchange.session_id, exchange.message_id)
              for exchange in (streaming, stopped, ended)}
    for relay in relays.values():
        keeper.hold(relay)
    keeper.stop()  # no greenlets: this test calls renew() itself
    before = lease_of(conn, streaming.message_id)
    # Its NOTIFY is never heard here.
    assert live.request_stop(database, stopped.session_id, stopped.message_id, "cancelled")
    conn.execute("DELETE FROM live_replies WHERE message_id = %s", (ended.message_id,))  # another instance ended it

    keeper.renew()
    assert relays[streaming.message_id].stopped == [] and lease_of(conn, streaming.message_id) > before
    assert relays[stopped.message_id].stopped == ["cancelled"]
    assert relays[ended.message_id].stopped == ["interrupted"]

    keeper.release(relays[streaming.message_id])
    conn.execute("UPDATE live_replies SET lease_expires_at = now() - interval '1 second' WHERE message_id = %s",
                 (streaming.message_id,))
    keeper.renew()  # a released reply is not renewed: its lease stays lapsed, for the sweep
    assert q.live_reply(conn, session_id=streaming.session_id, message_id=streaming.message_id)["lapsed"] is True

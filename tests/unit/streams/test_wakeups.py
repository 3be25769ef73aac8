"""app/streams/wakeups.py: dispatching notices to the subscribers of one reply (no listener connection)."""
import uuid

from app.streams.wakeups import RESYNC, Signals


def test_notices_reach_only_the_reply_s_subscribers_until_they_leave():
    signals = Signals(None)
    mine, other = uuid.uuid4(), uuid.uuid4()
    heard = []
    token = signals.subscribe(mine, heard.append)
    signals.subscribe(other, lambda kind: heard.append(("other", kind)))
    signals._dispatch(f"{mine}:stop:cancelled")
    signals._dispatch("not-a-uuid:end")
    assert heard == ["stop:cancelled"]
    signals._wake_all()  # after a reconnect everyone re-reads
    assert heard[1:] == [RESYNC, ("other", RESYNC)]
    signals.unsubscribe(token)
    signals._dispatch(f"{mine}:end")
    assert heard[-1] == ("other", RESYNC)


def test_a_failing_subscriber_does_not_stop_the_others():
    signals = Signals(None)
    reply = uuid.uuid4()
    heard = []
    signals.subscribe(reply, lambda kind: 1 / 0)
    signals.subscribe(reply, heard.append)
    signals._dispatch(f"{reply}:chunks")
    assert heard == ["chunks"]


def test_a_listener_retries_an_owner_lock_held_elsewhere_and_judges_others_only_once_settled(database_url):
    """A session of this worker's that the server has not yet seen die can hold its lock: the listener
    takes it as soon as it is free. A worker judges others' locks only after holding its own a while:
    after a failover every listener is taking its lock again."""
    import psycopg

    from app.streams.wakeups import OWNER_SETTLE_SECONDS
    from support.waiting import wait_until

    signals = Signals(database_url, owner_key=444444444)
    with psycopg.connect(database_url, autocommit=True) as stale:
        stale.execute("SELECT pg_advisory_lock(4242002, 444444444)")
        signals.start()
        try:
            wait_until(lambda: signals.connected, message="the listener connected")
            assert not signals.owner_locked and not signals.judges_owners()
            stale.execute("SELECT pg_advisory_unlock(4242002, 444444444)")
            wait_until(lambda: signals.owner_locked, timeout=5, message="the lock taken once free")
            assert not signals.judges_owners()
            wait_until(signals.judges_owners, timeout=OWNER_SETTLE_SECONDS + 5, message="settled")
            held = stale.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 4242002 "
                                 "AND objid = 444444444 AND granted").fetchone()[0]
            assert held == 1
        finally:
            signals.stop()

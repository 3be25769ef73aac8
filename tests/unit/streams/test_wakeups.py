"""app/streams/wakeups.py: dispatching notices to the subscribers of one reply; the listener's owner lock and
its probe of a server that stops answering (real PostgreSQL)."""
import time
import uuid

from app.db import OWNER_LOCK_CLASS, TAKE_OWNER_LOCK
from app.streams.wakeups import HEALTH_SECONDS, PROBE_SECONDS, RESYNC, Signals
from support.owner_locks import holder_ports
from support.waiting import wait_until


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


def test_the_listener_holds_the_owner_lock_beside_the_worker_s_pooled_connections(database_url):
    """Shared: the listener and every pooled connection of the worker hold it at once."""
    import psycopg

    signals = Signals(database_url, owner_key=444444444, owner_settle_seconds=8)
    with psycopg.connect(database_url, autocommit=True) as pooled:
        pooled.execute(TAKE_OWNER_LOCK, (OWNER_LOCK_CLASS, 444444444))
        signals.start()
        try:
            wait_until(lambda: signals.owner_locked, message="the listener took the lock")
            assert len(holder_ports(pooled, 444444444)) == 2
            assert signals.judge_settle == 8
        finally:
            signals.stop()
    assert Signals(database_url).judge_settle is None  # no owner key: judges nobody


def test_a_listener_on_a_frozen_server_dials_again_within_seconds(database_url):
    """A server that stops answering without closing the socket (frozen, partitioned): the listener's
    probe gives up and it dials again, here reaching the second host of a multi-host URL, as it would a
    promoted standby: within HEALTH_SECONDS + PROBE_SECONDS + one connect timeout on the frozen host, not
    after DB_SILENCE_SECONDS. After a real failover the promotion comes later than the freeze, so the
    listener is already dialling and reaches the new primary within OWNER_SETTLE_SECONDS of it."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from support.tcp_proxy import TcpProxy

    params = conninfo_to_dict(database_url)
    proxy = TcpProxy(int(params.get("port", 5432)), params.get("host", "127.0.0.1"))
    both = make_conninfo(database_url, host="127.0.0.1,127.0.0.1", port=f"{proxy.port},{params.get('port', 5432)}")
    signals = Signals(both, connect_timeout=2, owner_key=666666666)
    signals.start()
    try:
        with psycopg.connect(database_url, autocommit=True) as observer:
            wait_until(lambda: signals.owner_locked, message="the listener took the lock through the proxy")
            assert holder_ports(observer, 666666666) <= proxy.upstream_ports
            proxy.freeze()
            frozen_at = time.monotonic()
            wait_until(lambda: signals.connections == 2 and signals.owner_locked, timeout=30,
                       message="the listener attached to the other host")
            took = time.monotonic() - frozen_at
            direct = holder_ports(observer, 666666666) - proxy.upstream_ports
            assert direct, "the lock is held by a session that does not go through the frozen proxy"
            assert took < HEALTH_SECONDS + PROBE_SECONDS + 2 + 3, took  # 3 s of slack on a busy machine
    finally:
        signals.stop()
        proxy.close()


def test_a_settle_time_below_what_a_listener_needs_after_a_failover_is_warned_about(database_url, caplog):
    from psycopg.conninfo import make_conninfo

    three_hosts = make_conninfo(database_url, host="127.0.0.1,127.0.0.2,127.0.0.3")
    with caplog.at_level("WARNING", logger="app.streams.wakeups"):
        Signals(three_hosts, connect_timeout=3, owner_key=1, owner_settle_seconds=8)
    assert "OWNER_SETTLE_SECONDS=8 is below the 9 s" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="app.streams.wakeups"):
        Signals(make_conninfo(database_url, host="127.0.0.1,127.0.0.2"), connect_timeout=3, owner_key=1,
                owner_settle_seconds=8)
    assert caplog.text == ""

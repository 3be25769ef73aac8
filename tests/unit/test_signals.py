"""app/signals.py: dispatching notices to the subscribers of one reply (no listener connection)."""
import uuid

from app.signals import RESYNC, Signals


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

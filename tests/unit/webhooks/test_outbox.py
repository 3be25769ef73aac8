"""app/webhooks/outbox.py: the backoff between attempts at a notice."""
import pytest

from app.webhooks.outbox import Outbox
from support.inprocess import make_config


class Pools:
    """Holds commit hooks as app.db.Database does; backoff needs nothing else of it."""

    def __init__(self):
        self.commit_hooks = {}


@pytest.fixture
def outbox():
    return Outbox(Pools(), client=None, config=make_config(), metrics=None)


def test_attempts_are_spaced_by_doubling_delays_with_jitter(outbox):
    for attempts, nominal in [(1, 1), (2, 2), (3, 4), (5, 16)]:
        delays = [outbox.backoff(attempts) for _ in range(200)]
        assert nominal * 0.75 <= min(delays) and max(delays) <= nominal * 1.25
        assert max(delays) - min(delays) > nominal * 0.1  # jittered: workers do not retry in step


def test_a_backend_down_for_ten_minutes_is_tried_again_at_least_once_a_minute(outbox):
    """Defaults: 1 s doubling up to NOTICE_RETRY_MAX_SECONDS (60); so a backend back after ten minutes
    down waits a minute at most for every notice, and none is given up before NOTICE_RETRY_HOURS (24)."""
    elapsed, attempts = 0.0, 0
    while elapsed < 600:
        attempts += 1
        delay = outbox.backoff(attempts)
        assert delay <= 60
        elapsed += delay
    assert attempts < 30 and outbox.backoff(10_000) <= 60
    assert outbox.config.notice_retry_hours == 24

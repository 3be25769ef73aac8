"""app/webhooks/breakers.py: breaker admission and state, driven by recorded outcomes (no backend)."""
import pytest

from app.webhooks.breakers import Breaker, BreakerRegistry
from app.webhooks.errors import BackendError, BreakerOpen
from support.inprocess import make_config


def breaker(reset_seconds=60, half_open_max_calls=1, changes=None):
    return Breaker("bot", fail_max=2, reset_seconds=reset_seconds, half_open_max_calls=half_open_max_calls,
                   on_change=(lambda name, state: changes.append((name, state))) if changes is not None else None)


def test_failures_open_the_breaker_and_it_then_fails_fast():
    changes = []
    b = breaker(changes=changes)
    for _ in range(2):
        b.record(b.admit(), BackendError("boom"))
    assert b.state == "open"
    with pytest.raises(BreakerOpen) as caught:
        b.admit()
    assert 1 <= caught.value.retry_after_seconds <= 60
    assert changes == [("bot", "closed"), ("bot", "open")]


def test_a_success_resets_the_failure_count():
    b = breaker()
    b.record(b.admit(), BackendError("boom"))
    b.record(b.admit())
    b.record(b.admit(), BackendError("boom"))
    assert b.state == "closed"


def test_after_the_reset_time_a_bounded_number_of_probes_decide():
    b = breaker(reset_seconds=0)
    for _ in range(2):
        b.record(b.admit(), BackendError("boom"))
    assert b.state == "half-open"
    probe = b.admit()
    assert probe is True
    with pytest.raises(BreakerOpen):
        b.admit()  # only one probe at a time
    b.record(probe)
    assert b.state == "closed"


def test_a_released_probe_reports_nothing_and_frees_its_slot():
    b = breaker(reset_seconds=0)
    for _ in range(2):
        b.record(b.admit(), BackendError("boom"))
    b.release(b.admit())
    assert b.state == "half-open"
    b.record(b.admit(), BackendError("still down"))
    assert b._breaker.current_state == "open"


def test_the_registry_keeps_one_breaker_per_session_type():
    registry = BreakerRegistry(make_config())
    assert registry.get("a") is registry.get("a") and registry.get("a") is not registry.get("b")
    assert registry.states() == {"a": "closed", "b": "closed"}


def test_a_session_type_s_own_settings_make_its_breaker_and_a_change_replaces_it():
    from app.webhooks.client import Target

    registry = BreakerRegistry(make_config())
    tuned = Target("t", "http://127.0.0.1:9/", breaker_failure_threshold=1, breaker_open_seconds=5)
    breaker = registry.get(tuned)
    breaker.record(breaker.admit(), BackendError("down"))
    assert breaker.state == "open"  # one fault is enough for this type
    assert registry.get(tuned) is breaker
    retuned = Target("t", "http://127.0.0.1:9/", breaker_failure_threshold=3)
    assert registry.get(retuned) is not breaker and registry.get(retuned).state == "closed"
    assert registry.get(Target("u", "http://127.0.0.1:9/")) is registry.get("u")  # defaults: the instance's

"""app/streams/outcomes.py: which endings count for the breaker, reach the backend, and what a rejoiner reads."""
from app.streams import outcomes
from app.webhooks.errors import BackendError, BackendTimeout


def test_only_backend_faults_count_for_the_breaker():
    assert outcomes.backend_failure(BackendError("boom")).counts_for_breaker
    assert outcomes.backend_failure(BackendTimeout(1)).stop_reason == "backend_timeout"
    for outcome in (outcomes.CANCELLED, outcomes.SUPERSEDED, outcomes.MAX_DURATION, outcomes.SHUTDOWN):
        assert not outcome.counts_for_breaker and outcome.tells_backend
    assert outcomes.COMPLETE.complete and outcomes.COMPLETE.counts_for_breaker


def test_a_4xx_is_the_backend_refusing_one_request_not_a_fault():
    assert not BackendError.for_status(422).counts_against_breaker
    assert BackendError.for_status(503).counts_against_breaker
    assert BackendError.for_status(429).counts_against_breaker


def test_every_stop_reason_has_a_final_line_for_rejoiners():
    for reason in outcomes.STOP_REASONS:
        outcome = outcomes.for_stored(reason)
        assert outcome.stop_reason == reason and outcome.error_code

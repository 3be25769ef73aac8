"""app/webhooks/policy.py: the event table's timeouts."""
from app.webhooks import policy


def test_configurable_events_take_the_session_types_timeout_up_to_their_cap():
    assert policy.timeout_for("message.new") == 120
    assert policy.timeout_for("message.new", 45) == 45
    assert policy.timeout_for("message.new", 1000) == 300
    assert policy.timeout_for("session.summary", 1000) == 120


def test_fixed_events_ignore_the_session_types_timeout():
    assert policy.timeout_for("session_type.health_check", 60) == 5
    assert policy.timeout_for("message.reaction", 60) == 10


def test_only_json_request_response_events_are_retried():
    retried = {event for event, rule in policy.POLICIES.items() if rule.retry}
    assert retried == {"session.created", "session_type.health_check"}

"""The webhook event table: timeouts and retries per event.

Which calls pass a breaker is decided by how an event is sent, not by this table: JSON calls and
streams (WebhookClient.call_json, .stream) always do; notices (.deliver_notice, from the outbox) never do.
"""
from dataclasses import dataclass

HARD_TIMEOUT_CAP_SECONDS = 300


@dataclass(frozen=True)
class EventPolicy:
    default_timeout: float
    max_timeout: float
    configurable: bool
    retry: bool


POLICIES = {
    "session.created": EventPolicy(default_timeout=30, max_timeout=60, configurable=True, retry=True),
    "message.new": EventPolicy(default_timeout=120, max_timeout=300, configurable=True, retry=False),
    "message.recreate": EventPolicy(default_timeout=120, max_timeout=300, configurable=True, retry=False),
    "session.summary": EventPolicy(default_timeout=60, max_timeout=120, configurable=True, retry=False),
    "session_type.health_check": EventPolicy(default_timeout=5, max_timeout=5, configurable=False, retry=True),
    "message.aborted": EventPolicy(default_timeout=10, max_timeout=10, configurable=False, retry=False),
    "session.deleted": EventPolicy(default_timeout=10, max_timeout=10, configurable=False, retry=False),
    "message.reaction": EventPolicy(default_timeout=10, max_timeout=10, configurable=False, retry=False),
}


def timeout_for(event, session_type_timeout=None):
    """The session type's timeout replaces the default of configurable events, capped at their max."""
    policy = POLICIES[event]
    if policy.configurable and session_type_timeout:
        return min(float(session_type_timeout), policy.max_timeout, HARD_TIMEOUT_CAP_SECONDS)
    return policy.default_timeout

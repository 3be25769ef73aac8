"""The webhook event table of SPEC §6: timeouts, retries, and which events the breaker guards."""
from dataclasses import dataclass

HARD_TIMEOUT_CAP_SECONDS = 300


@dataclass(frozen=True)
class EventPolicy:
    default_timeout: float
    max_timeout: float
    configurable: bool
    retry: bool
    breaker: bool


POLICIES = {
    "session.created": EventPolicy(30, 60, True, True, True),
    "message.new": EventPolicy(120, 300, True, False, True),
    "message.recreate": EventPolicy(120, 300, True, False, True),
    "session.summary": EventPolicy(60, 120, True, False, True),
    "session_type.health_check": EventPolicy(5, 5, False, True, True),
    "message.aborted": EventPolicy(10, 10, False, False, False),
    "session.deleted": EventPolicy(10, 10, False, False, False),
    "message.reaction": EventPolicy(10, 10, False, False, False),
}


def timeout_for(event, session_type_timeout=None):
    """The session type's timeout replaces the default of configurable events, capped at their max."""
    policy = POLICIES[event]
    if policy.configurable and session_type_timeout:
        return min(float(session_type_timeout), policy.max_timeout, HARD_TIMEOUT_CAP_SECONDS)
    return policy.default_timeout

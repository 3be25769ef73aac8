"""W3C Trace Context: a request's trace id, and the `traceparent` every backend call carries.

A request that arrives with a valid `traceparent` keeps its trace id (the client's trace goes on through
the engine to the backend); any other gets a new one. Either way it is the `X-Trace-Id` of the response,
the `trace_id` of error bodies and logs, and the trace id of the `traceparent` sent to backends, each call
with a span id of its own. Notices (app/webhooks/outbox.py) carry the trace id of the request that made
them, whenever they are delivered.
"""
import re
import secrets
import uuid

from flask import g, has_app_context, has_request_context, request

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_INVALID = ("0" * 32, "0" * 16)


def trace_id():
    """The request's trace id; outside a request (work the engine started itself), a new one."""
    if not has_app_context():
        return uuid.uuid4().hex
    if "trace_id" not in g:
        g.trace_id = _given() or uuid.uuid4().hex
    return g.trace_id


def _given():
    """The trace id of the request's `traceparent` (version 00), when it is well formed."""
    if not has_request_context():
        return None
    match = _TRACEPARENT.match(request.headers.get("traceparent", "").strip())
    if match is None or match.group(1) == _INVALID[0] or match.group(2) == _INVALID[1]:
        return None
    return match.group(1)


def traceparent(trace):
    """The header value of one call in trace `trace`: a new span id, sampled."""
    return f"00-{trace}-{secrets.token_hex(8)}-01"

"""OpenAPI parts of the change feed (GET /events; app/chat/feed.py)."""
from app.api.openapi_terms import MESSAGE_ID, SESSION_ID, TIME, errors, obj, ref
from app.schemas import requests
from app.schemas.jsonschema import query_parameters

KINDS = ["feed", "heartbeat", "reply.queued", "reply.started", "reply.ended", "message.deleted", "path.changed",
         "session.created", "session.updated", "session.deleted", "reaction.set"]


def schemas():
    return {"FeedEvent": obj({
        "type": {"type": "string", "enum": KINDS},
        "cursor": {"type": "string", "description": "Reconnect with ?after=<this> to go on after this line"},
        "session_id": {**SESSION_ID, "nullable": True},
        "message_id": {**MESSAGE_ID, "nullable": True},
        "at": TIME,
        "is_complete": {"type": "boolean", "description": "reply.ended"},
        "stop_reason": {"type": "string", "nullable": True, "description": "reply.ended: why it is incomplete"},
        "reaction_type": {"type": "string", "enum": ["like", "dislike", "none"], "description": "reaction.set"},
    }, required=["type", "cursor"])}


def paths():
    return {
        "/events": {"get": {
            "operationId": "followEvents",
            "summary": "The caller's changes as they happen, from any instance (NDJSON, long-lived): replies "
                       "started and ended, messages deleted, active paths changed, sessions created, updated and "
                       "deleted, reactions set. A `feed` line first, a `heartbeat` after 15 s of quiet; every "
                       "line has a cursor. Reconnecting with ?after=<cursor> misses nothing within "
                       "FEED_RETENTION_SECONDS; a cursor events may have been lost after is 410",
            "parameters": query_parameters(requests.EventsQuery),
            "responses": {
                "200": {"description": "NDJSON: one FeedEvent a line",
                        "content": {"application/x-ndjson": {"schema": ref("FeedEvent")}}},
                "410": {"description": "Events after the cursor may be gone: pruned past it, or the client "
                                       "stopped following for longer than the retention (code cursor_expired)",
                        "content": {"application/json": {"schema": ref("Error")}}},
                **errors(400, 401, 429)},
        }},
    }

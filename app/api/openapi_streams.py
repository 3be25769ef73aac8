"""OpenAPI paths and schemas of resumable replies: rejoin and stop."""
from app.api.openapi_terms import MESSAGE_ID, STREAM, errors, json_response, path_param, ref
from app.schemas import requests
from app.schemas.jsonschema import query_parameters


def paths():
    message_param = path_param("id", MESSAGE_ID, "An assistant message (a reply) of the caller's")
    return {
        "/messages/{id}/stream": {"get": {
            "operationId": "rejoinReply",
            "summary": "Join a reply from any instance: the stored chunks after `offset`, then the live ones, "
                       "then `complete` or `error`; after the end, a replay",
            "description": "Concatenated, the chunks a client received before and after a rejoin equal the stored "
                           "reply: no gap, no duplicate. Owner only (404 for anyone else); 400 for a message "
                           "that is not an assistant reply.",
            "parameters": [message_param, *query_parameters(requests.StreamRejoinQuery)],
            "responses": {"200": STREAM, **errors(400, 401, 404, 503)}}},
        "/messages/{id}/stop": {"post": {
            "operationId": "stopReply",
            "summary": "Stop a reply in flight, wherever it streams",
            "description": "The reply is stored incomplete with metadata.stop_reason `cancelled` and the backend "
                           "gets message.aborted. Answers once the reply has ended (at most STOP_WAIT_SECONDS, "
                           "after which this instance ends it). `stopped` is false when nothing was streaming.",
            "parameters": [message_param],
            "responses": {"200": json_response("The reply as stored now", ref("StopResult")),
                          **errors(400, 401, 404, 503)}}},
    }


def schemas():
    return {}  # StopResult is a response shape (app/schemas/responses.py)

"""OpenAPI paths and schemas of app/api/chat_apps.py: the session-type catalogue, posted
messages, message deletion. The posted message's body is generated from requests.MessagePost, the
responses from app/schemas/responses.py."""
from app.api.openapi_terms import MESSAGE_ID, SESSION_ID, errors, json_body, json_response, path_param, ref
from app.schemas import requests
from app.schemas.jsonschema import object_schema


def schemas():
    return {"MessagePostRequest": object_schema(requests.MessagePost)}


def paths():
    return {
        "/session-types": {"get": {
            "operationId": "listSessionTypeCatalogue",
            "summary": "Session types any client may pick (no webhook URLs, no settings)",
            "responses": {"200": json_response("Session types", ref("SessionTypeCatalogue")), **errors(401)}}},
        "/sessions/{id}/messages": {"post": {
            "operationId": "postMessage",
            "summary": "Store a message without calling the backend (system prompt, note, import)",
            "parameters": [path_param("id", SESSION_ID, "Session id")],
            "description": "409 (validation_errors[0].code `too_many_variants`): `parent_message_id` already has "
                           "MAX_SIBLINGS_PER_PARENT children.",
            "requestBody": json_body(ref("MessagePostRequest")),
            "responses": {"201": json_response("The stored message", ref("Message")),
                          **errors(400, 401, 404, 409)}}},
        "/messages/{id}": {"delete": {
            "operationId": "deleteMessage",
            "summary": "Delete a message and its subtree; the active path moves to the nearest sibling",
            "parameters": [path_param("id", MESSAGE_ID, "Message id")],
            "responses": {"200": json_response("Deleted", ref("MessageDeleted")), **errors(400, 401, 404)}}},
    }

"""OpenAPI paths and schemas of app/api/chat_apps.py: the session-type catalogue, posted
messages, message deletion. The posted message's body is generated from requests.MessagePost. Edits to
existing schemas (content parts, search hits' place in the tree, sessions' accepts_files) are in
openapi.py itself."""
from app.api.jsonschema import object_schema
from app.api.openapi_terms import (
    MESSAGE_ID,
    SESSION_ID,
    SESSION_TYPE_ID,
    errors,
    json_body,
    json_response,
    obj,
    path_param,
    ref,
)
from app.schemas import requests

SETTING = {"type": "boolean", "nullable": True,
                 "description": "true/false: every session of the type accepts file_ids or not; null: as its "
                                "backend declares (capability id `file_attachments` in session.created)."}


def schemas():
    return {
        "SessionTypeSummary": obj({
            "session_type_id": SESSION_TYPE_ID, "name": {"type": "string"}, "description": {"type": "string"},
            "summarization_enabled": {"type": "boolean"}, "accepts_files": SETTING,
        }, required=("session_type_id", "name", "description", "summarization_enabled", "accepts_files"),
            extra=False),
        "SessionTypeCatalogue": obj({"session_types": {"type": "array", "items": ref("SessionTypeSummary")}},
                                    required=("session_types",), extra=False),
        "MessagePostRequest": object_schema(requests.MessagePost),
        "MessageDeleted": obj({
            "deleted": {"type": "boolean", "enum": [True]},
            "deleted_message_ids": {"type": "array", "items": MESSAGE_ID,
                                    "description": "The message and every message below it."},
            "activated_message_id": {**MESSAGE_ID, "nullable": True,
                                     "description": "The sibling that became active in its place, if any."},
        }, required=("deleted", "deleted_message_ids", "activated_message_id"), extra=False),
    }


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

"""The project's own OpenAPI 3.0 document, served at /api/v1/openapi.json.

It describes what this service really does (the client contract plus the engine's own additions:
admin, activate, health). Tests validate live responses against it.
"""
from functools import cache

from flask import Blueprint

bp = Blueprint("openapi", __name__)

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SESSION_ID = {"type": "string",
              "pattern": r"^gts\.hyperspot\.chat_engine\.entities\.session\.v[0-9]+~[0-9a-f]{8}-[0-9a-f]{4}-"
                         r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
MESSAGE_ID = {"type": "string",
              "pattern": r"^gts\.hyperspot\.chat_engine\.entities\.message\.v[0-9]+~[0-9a-f]{8}-[0-9a-f]{4}-"
                         r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
SESSION_TYPE_ID = {"type": "string",
                   "pattern": r"^gts\.hyperspot\.chat_engine\.session_types\.[a-z0-9_]+\.v[0-9]+(\.[0-9]+)*~$"}
TIME = {"type": "string", "format": "date-time"}
CONTENT_TYPES = ["text", "code", "image", "audio", "video", "document"]


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties, required=(), extra=None, **more):
    schema = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = list(required)
    if extra is not None:
        schema["additionalProperties"] = extra
    return schema


def json_body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def json_response(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses):
    names = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 413: "TooLarge",
             503: "Unavailable", 500: "InternalServerError"}
    return {str(s): {"$ref": f"#/components/responses/{names[s]}"} for s in (*statuses, 500)}


def path_param(name, schema, description):
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


STREAM = {
    "description": "NDJSON stream: `start`, then `chunk` events as the backend sends them, then "
                   "`complete` (after the reply is committed) or `error`. Headers X-User-Message-Id "
                   "(send only) and X-Assistant-Message-Id carry the ids of the messages created.",
    "headers": {"X-Assistant-Message-Id": {"schema": MESSAGE_ID},
                "X-User-Message-Id": {"schema": MESSAGE_ID}},
    "content": {"application/x-ndjson": {"schema": {"oneOf": [
        ref("StreamingStartEvent"), ref("StreamingChunkEvent"), ref("StreamingCompleteEvent"),
        ref("StreamingErrorEvent")]}}},
}

SCHEMAS = {
    "ErrorDetails": obj({
        "trace_id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"},
        "validation_errors": {"type": "array", "items": obj(
            {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            required=("field", "message"), extra=False)},
        "retry_after_seconds": {"type": "integer", "minimum": 0},
        "limit_type": {"type": "string", "enum": ["per_second", "per_minute", "per_hour", "per_day", "concurrent"]},
        "quota_reset_at": TIME,
        "timeout_ms": {"type": "integer", "minimum": 0},
        "resource_id": {"type": "string", "pattern": UUID_PATTERN},
    }, extra=False),
    "Error": obj({
        "error_code": {"type": "string", "enum": ["AUTH_REQUIRED", "SESSION_NOT_FOUND", "MESSAGE_NOT_FOUND",
                                                  "INVALID_REQUEST", "BACKEND_TIMEOUT", "BACKEND_ERROR",
                                                  "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR"]},
        "message": {"type": "string"},
        "details": ref("ErrorDetails"),
    }, required=("error_code", "message"), extra=False),
    "Capability": obj({"id": {"type": "string"}, "name": {"type": "string"},
                       "description": {"type": "string"}, "enabled_by_default": {"type": "boolean"},
                       "config": {"type": "object"}, "metadata": {"type": "object"}},
                      description="As announced by the session type's backend; passed through unchanged."),
    "ContentPart": obj({"type": {"type": "string", "enum": CONTENT_TYPES}, "text": {"type": "string"},
                        "code": {"type": "string"}, "language": {"type": "string"},
                        "image_id": {"type": "string"}, "audio_id": {"type": "string"},
                        "video_id": {"type": "string"}, "document_id": {"type": "string"},
                        "mime_type": {"type": "string"}}, required=("type",)),
    "SessionCreateRequest": obj({
        "session_type_id": SESSION_TYPE_ID,
        "client_id": {"type": "string", "description": "Optional; must equal the token's subject."},
        "metadata": {"type": "object", "description": "Initial session metadata (title, tags, ...)."},
    }, required=("session_type_id",), extra=False),
    "SessionCreateResponse": obj({
        "session_id": SESSION_ID, "available_capabilities": {"type": "array", "items": ref("Capability")},
    }, required=("session_id", "available_capabilities")),
    "Session": obj({
        "session_id": SESSION_ID, "client_id": {"type": "string"}, "session_type_id": SESSION_TYPE_ID,
        "available_capabilities": {"type": "array", "items": ref("Capability")},
        "metadata": {"type": "object"}, "created_at": TIME, "updated_at": TIME,
    }, required=("session_id", "client_id", "session_type_id", "available_capabilities", "created_at",
                 "updated_at")),
    "VariantInfo": obj({
        "variant_index": {"type": "integer", "minimum": 0}, "total_variants": {"type": "integer", "minimum": 1},
        "parent_message_id": {"type": "string", "pattern": UUID_PATTERN, "nullable": True},
    }, required=("variant_index", "total_variants"), extra=False),
    "Message": obj({
        "message_id": MESSAGE_ID, "session_id": SESSION_ID,
        "parent_message_id": {**MESSAGE_ID, "nullable": True},
        "role": {"type": "string", "enum": ["user", "assistant", "system"]},
        "content": {"type": "array", "items": ref("ContentPart")},
        "file_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "variant_index": {"type": "integer", "minimum": 0}, "is_active": {"type": "boolean"},
        "is_complete": {"type": "boolean"}, "metadata": {"type": "object"}, "created_at": TIME,
        "variant_info": ref("VariantInfo"),
    }, required=("message_id", "session_id", "parent_message_id", "role", "content", "variant_index",
                 "is_active", "is_complete", "created_at")),
    "MessageList": obj({"messages": {"type": "array", "items": ref("Message")}}, required=("messages",)),
    "MessageVariant": obj({
        "message_id": MESSAGE_ID, "variant_index": {"type": "integer"},
        "content": {"type": "array", "items": ref("ContentPart")}, "is_active": {"type": "boolean"},
        "is_complete": {"type": "boolean"}, "created_at": TIME,
    }, required=("message_id", "variant_index", "content", "is_active")),
    "MessageVariants": obj({"variants": {"type": "array", "items": ref("MessageVariant")},
                            "current_index": {"type": "integer"}}, required=("variants", "current_index")),
    "MessageSendRequest": obj({
        "session_id": SESSION_ID, "content": {"type": "string", "minLength": 1},
        "file_ids": {"type": "array", "maxItems": 10, "items": {"type": "string", "format": "uuid"}},
        "parent_message_id": {**MESSAGE_ID, "nullable": True,
                              "description": "Branch: the new message becomes a new child of this one."},
        "enabled_capabilities": {"type": "array", "items": {"type": "string"}},
    }, required=("session_id", "content"), extra=False),
    "MessageRecreateRequest": obj({"enabled_capabilities": {"type": "array", "items": {"type": "string"}}},
                                  extra=False),
    "StreamingStartEvent": obj({"type": {"type": "string", "enum": ["start"]}, "message_id": MESSAGE_ID},
                               required=("type", "message_id"), extra=False),
    "StreamingChunkEvent": obj({
        "type": {"type": "string", "enum": ["chunk"]}, "message_id": MESSAGE_ID,
        "chunk": obj({"type": {"type": "string", "enum": CONTENT_TYPES}, "content": {"type": "string"}},
                     required=("type", "content"), extra=False),
    }, required=("type", "message_id", "chunk"), extra=False),
    "StreamingCompleteEvent": obj({"type": {"type": "string", "enum": ["complete"]}, "message_id": MESSAGE_ID,
                                   "metadata": {"type": "object"}}, required=("type", "message_id"), extra=False),
    "StreamingErrorEvent": obj({
        "type": {"type": "string", "enum": ["error"]}, "message_id": MESSAGE_ID,
        "error_code": {"type": "string"}, "message": {"type": "string", "minLength": 1},
        "details": ref("ErrorDetails"),
    }, required=("type", "message_id", "error_code", "message"), extra=False),
    "Deleted": obj({"deleted": {"type": "boolean", "enum": [True]}}, required=("deleted",), extra=False),
    "SessionType": obj({
        "session_type_id": SESSION_TYPE_ID, "name": {"type": "string"}, "description": {"type": "string"},
        "webhook_url": {"type": "string"}, "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 300},
        "summarization_enabled": {"type": "boolean"}, "summarization_url": {"type": "string", "nullable": True},
        "summarization_settings": {"type": "object"}, "created_at": TIME, "updated_at": TIME,
    }, required=("session_type_id", "name", "webhook_url", "timeout_seconds")),
    "SessionTypeList": obj({"session_types": {"type": "array", "items": ref("SessionType")}},
                           required=("session_types",)),
    "SessionTypeCreate": obj({
        "session_type_id": {**SESSION_TYPE_ID, "description": "Derived from name (v1) when omitted."},
        "name": {"type": "string"}, "description": {"type": "string"},
        "webhook_url": {"type": "string", "pattern": "^https?://"},
        "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 300, "default": 30},
        "summarization_enabled": {"type": "boolean"}, "summarization_url": {"type": "string", "nullable": True},
        "summarization_settings": {"type": "object"},
        "health_check": {"type": "boolean", "description": "Probe the backend with session_type.health_check first."},
    }, required=("name", "webhook_url"), extra=False),
}


def _error_response(description):
    return json_response(description, ref("Error"))


def _paths():
    session_param = path_param("id", SESSION_ID, "Session id")
    message_param = path_param("id", MESSAGE_ID, "Message id")
    type_param = path_param("id", SESSION_TYPE_ID, "Session type id")
    return {
        "/sessions": {"post": {
            "operationId": "createSession", "summary": "Create a session (the backend announces capabilities)",
            "requestBody": json_body(ref("SessionCreateRequest")),
            "responses": {"201": json_response("Created", ref("SessionCreateResponse")),
                          **errors(400, 401, 413, 503)}}},
        "/sessions/{id}": {
            "parameters": [session_param],
            "get": {"operationId": "getSession", "summary": "Get a session",
                    "responses": {"200": json_response("The session", ref("Session")), **errors(400, 401, 404)}},
            "delete": {"operationId": "deleteSession",
                       "summary": "Delete a session and all its messages (backend notified afterwards)",
                       "responses": {"200": json_response("Deleted", ref("Deleted")), **errors(400, 401, 404)}}},
        "/sessions/{id}/messages": {"get": {
            "operationId": "listMessages",
            "summary": "The active path from the root; with parent_message_id, that node's children",
            "parameters": [session_param, {"name": "parent_message_id", "in": "query", "schema": MESSAGE_ID}],
            "responses": {"200": json_response("Messages", ref("MessageList")), **errors(400, 401, 404)}}},
        "/messages/send": {"post": {
            "operationId": "sendMessage", "summary": "Send a message; the reply streams back",
            "requestBody": json_body(ref("MessageSendRequest")),
            "responses": {"200": STREAM, **errors(400, 401, 404, 413, 503)}}},
        "/messages/{id}/recreate": {"post": {
            "operationId": "recreateMessage", "summary": "A new variant of an assistant message, streamed",
            "parameters": [message_param], "requestBody": json_body(ref("MessageRecreateRequest"), required=False),
            "responses": {"200": STREAM, **errors(400, 401, 404, 503)}}},
        "/messages/{id}": {"get": {
            "operationId": "getMessage", "summary": "One message with its variant info",
            "parameters": [message_param],
            "responses": {"200": json_response("The message", ref("Message")), **errors(400, 401, 404)}}},
        "/messages/{id}/variants": {"get": {
            "operationId": "getMessageVariants", "summary": "All siblings of a message, by variant index",
            "parameters": [message_param],
            "responses": {"200": json_response("Variants", ref("MessageVariants")), **errors(400, 401, 404)}}},
        "/messages/{id}/activate": {"post": {
            "operationId": "activateMessage",
            "summary": "Make this variant (and its ancestors) active; the next send continues below it",
            "parameters": [message_param],
            "responses": {"200": json_response("The activated message", ref("Message")), **errors(400, 401, 404)}}},
        "/admin/session-types": {
            "post": {"operationId": "createSessionType", "summary": "Register a session type (admin role)",
                     "requestBody": json_body(ref("SessionTypeCreate")),
                     "responses": {"201": json_response("Created", ref("SessionType")), **errors(400, 401, 404, 409)}},
            "get": {"operationId": "listSessionTypes", "summary": "List session types (admin role)",
                    "responses": {"200": json_response("Session types", ref("SessionTypeList")), **errors(401, 404)}}},
        "/admin/session-types/{id}": {
            "parameters": [type_param],
            "get": {"operationId": "getSessionType", "summary": "Get a session type (admin role)",
                    "responses": {"200": json_response("The session type", ref("SessionType")),
                                  **errors(400, 401, 404)}},
            "patch": {"operationId": "updateSessionType", "summary": "Change a session type (admin role)",
                      "requestBody": json_body(obj({k: v for k, v in SCHEMAS["SessionTypeCreate"]["properties"].items()
                                                    if k not in ("session_type_id", "health_check")}, extra=False)),
                      "responses": {"200": json_response("The session type", ref("SessionType")),
                                    **errors(400, 401, 404)}},
            "delete": {"operationId": "deleteSessionType", "summary": "Delete an unused session type (admin role)",
                       "responses": {"200": json_response("Deleted", ref("Deleted")), **errors(400, 401, 404, 409)}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                  "responses": {"200": json_response("OpenAPI 3.0 document", {"type": "object"})}}},
    }


@cache
def document():
    return {
        "openapi": "3.0.3",
        "info": {"title": "Chat Engine API", "version": "1.0.0",
                 "description": "Sessions, the message tree and streamed replies between chat clients and "
                                "webhook backends. Every call needs a Bearer JWT unless marked otherwise. "
                                "Operational endpoints (/health/live, /health/ready, /metrics) live outside /api/v1."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": SCHEMAS,
            "responses": {
                "BadRequest": _error_response("Invalid request (validation_errors in details)"),
                "Unauthorized": _error_response("Missing or invalid token"),
                "NotFound": _error_response("Not found, or not the caller's"),
                "Conflict": _error_response("Conflicts with the current state"),
                "TooLarge": _error_response("Request body over the size cap"),
                "Unavailable": _error_response("Overloaded, database unavailable, or backend breaker open "
                                               "(see Retry-After)"),
                "InternalServerError": _error_response("Unexpected error (trace_id in details)"),
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    return document()

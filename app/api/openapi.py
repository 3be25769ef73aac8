"""The project's own OpenAPI 3.0 document, served at /api/v1/openapi.json.

It describes what this service really does (the client contract plus the engine's own additions:
admin, activate, health). Tests validate live responses against it.
"""
from functools import cache
from importlib import import_module

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


def query_param(name, schema, description="", required=False):
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


SEARCH_PARAMS = [
    query_param("query", {"type": "string", "minLength": 1, "maxLength": 500},
                "websearch syntax: words, \"phrases\", or, -exclusions", required=True),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
    query_param("offset", {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0}),
    query_param("cursor", {"type": "string"}, "next_cursor of the previous page, for stable deep paging"),
]


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Client-chosen, scoped to the caller, kept at least 24 h. The same key with the same body "
                   "returns the earlier result (header Idempotent-Replayed: true; a stream is replayed, or "
                   "joined while it still streams) with no new message and no backend call; with another "
                   "body it is 409 with validation_errors[0].code `idempotency_key_reused`."}
REPLAYED = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                    "description": "Present when the answer repeats an earlier request "
                                                   "with the same Idempotency-Key."}}
BUSY_CONFLICT = {
    "description": "`if_busy: reject` and a reply still streams in the session "
                   "(validation_errors[0].code `reply_in_progress`, details.resource_id its uuid), or an "
                   "Idempotency-Key reused with another body (`idempotency_key_reused`).",
    "headers": {"X-In-Flight-Message-Id": {"schema": MESSAGE_ID,
                                           "description": "The reply in flight (reply_in_progress): rejoin "
                                                          "it with GET /messages/{id}/stream or stop it."}},
    "content": {"application/json": {"schema": ref("Error")}}}

STREAM = {
    "description": "NDJSON stream: `start`, then `chunk` events as the backend sends them, then "
                   "`complete` (after the reply is committed) or `error`. Headers X-User-Message-Id "
                   "(send only) and X-Assistant-Message-Id carry the ids of the messages created. An "
                   "incomplete reply is stored with metadata.stop_reason.",
    "headers": {"X-Assistant-Message-Id": {"schema": MESSAGE_ID},
                "X-User-Message-Id": {"schema": MESSAGE_ID}, **REPLAYED},
    "content": {"application/x-ndjson": {"schema": {"oneOf": [
        ref("StreamingStartEvent"), ref("StreamingChunkEvent"), ref("StreamingCompleteEvent"),
        ref("StreamingErrorEvent")]}}},
}

RESUMABLE = {"type": "boolean", "default": False,
             "description": "A client disconnect does not stop the reply: it runs to its end (timeouts still "
                            "apply); rejoin it with GET /messages/{id}/stream, stop it with POST "
                            "/messages/{id}/stop."}
STREAM_SETTINGS = {
    "max_reply_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 1800,
                          "description": "Caps a streamed reply's total duration (stop_reason max_duration); "
                                         "timeout_seconds bounds only the first byte and silences."},
    "breaker_failure_threshold": {"type": "integer", "minimum": 1, "maximum": 1000, "nullable": True,
                                  "description": "Consecutive backend faults that open the breaker "
                                                 "(null: BREAKER_FAIL_MAX, 5)."},
    "breaker_open_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "nullable": True,
                             "description": "How long an open breaker fails fast (null: BREAKER_RESET_SECONDS, 60)."},
    "breaker_half_open_probes": {"type": "integer", "minimum": 1, "maximum": 100, "nullable": True,
                                 "description": "Calls let through at once when half-open "
                                                "(null: BREAKER_HALF_OPEN_MAX_CALLS, 3)."},
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
        "is_complete": {"type": "boolean"},
        "metadata": {"type": "object", "description": "An incomplete assistant reply carries `stop_reason`: "
                     "cancelled, backend_error, backend_timeout, max_duration, shutdown, superseded or "
                     "interrupted; assistant replies carry `session_type_id`."},
        "created_at": TIME,
        "variant_info": ref("VariantInfo"), "reactions": ref("Reactions"),
        "my_reaction": {"type": "string", "enum": ["like", "dislike", None], "nullable": True},
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
        "if_busy": {"type": "string", "enum": ["reject", "interrupt", "parallel"], "default": "reject",
                    "description": "When the session's active path ends in a reply still streaming: reject "
                                   "(409 reply_in_progress), interrupt (that reply stops, stored with "
                                   "stop_reason superseded; the new message continues below it), or "
                                   "parallel (the new message is placed below the unfinished reply)."},
        "resumable": RESUMABLE,
    }, required=("session_id", "content"), extra=False),
    "MessageRecreateRequest": obj({"enabled_capabilities": {"type": "array", "items": {"type": "string"}},
                                   "resumable": RESUMABLE}, extra=False),
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
    "Reactions": obj({"like": {"type": "integer", "minimum": 0}, "dislike": {"type": "integer", "minimum": 0}},
                     required=("like", "dislike")),
    "SessionList": obj({"sessions": {"type": "array", "items": ref("Session")},
                        "next_cursor": {"type": "string", "nullable": True}}, required=("sessions", "next_cursor")),
    "SessionUpdateRequest": obj({
        "title": {"type": "string", "nullable": True, "maxLength": 500},
        "tags": {"type": "array", "nullable": True, "items": {"type": "string"}, "maxItems": 50},
        "metadata": {"type": "object", "description": "RFC 7386 merge patch: null removes a key"},
    }, extra=False),
    "SwitchTypeRequest": obj({"new_session_type_id": SESSION_TYPE_ID}, required=("new_session_type_id",),
                             extra=False),
    "SwitchTypeResponse": obj({"session_id": SESSION_ID, "session_type_id": SESSION_TYPE_ID},
                              required=("session_id", "session_type_id")),
    "ExportRequest": obj({"format": {"type": "string", "enum": ["json", "markdown", "txt"]},
                          "scope": {"type": "string", "enum": ["active", "all"]}}, required=("format", "scope"),
                         extra=False),
    "ExportResponse": obj({"download_url": {"type": "string"}, "expires_at": TIME},
                          required=("download_url", "expires_at")),
    "ShareRequest": obj({"expires_at": {**TIME, "nullable": True}}, extra=False),
    "ShareCreated": obj({"share_token": {"type": "string", "minLength": 32}, "share_url": {"type": "string"},
                         "share_id": {"type": "string", "format": "uuid"}, "created_at": TIME,
                         "expires_at": {**TIME, "nullable": True}}, required=("share_token", "share_url", "share_id")),
    "Share": obj({"share_id": {"type": "string", "format": "uuid"}, "created_at": TIME,
                  "expires_at": {**TIME, "nullable": True}, "revoked_at": {**TIME, "nullable": True},
                  "active": {"type": "boolean"}}, required=("share_id", "created_at", "active")),
    "ShareList": obj({"shares": {"type": "array", "items": ref("Share")}}, required=("shares",)),
    "SharedSession": obj({"session_id": SESSION_ID, "messages": {"type": "array", "items": ref("Message")},
                          "read_only": {"type": "boolean"}, "metadata": {"type": "object"}},
                         required=("session_id", "messages", "read_only")),
    "SharedSendRequest": obj({
        "content": {"type": "string", "minLength": 1},
        "file_ids": {"type": "array", "maxItems": 10, "items": {"type": "string", "format": "uuid"}},
        "enabled_capabilities": {"type": "array", "items": {"type": "string"}},
    }, required=("content",), extra=False),
    "SearchHit": obj({
        "message_id": MESSAGE_ID, "content": {"type": "string"},
        "context": {"type": "string", "description": "Snippet with <mark>…</mark> around matches"},
        "created_at": TIME, "role": {"type": "string"}, "parent_message_id": {**MESSAGE_ID, "nullable": True},
        "variant_index": {"type": "integer"}, "is_active": {"type": "boolean"}, "rank": {"type": "number"},
    }, required=("message_id", "content", "context", "created_at")),
    "SearchResults": obj({"results": {"type": "array", "items": ref("SearchHit")}, "total": {"type": "integer"},
                          "limit": {"type": "integer"}, "offset": {"type": "integer"},
                          "next_cursor": {"type": "string", "nullable": True}},
                         required=("results", "total", "limit", "offset")),
    "SessionSearchResults": obj({
        "results": {"type": "array", "items": obj({
            "session_id": SESSION_ID, "metadata": {"type": "object"}, "rank": {"type": "number"},
            "matched_messages": {"type": "array", "items": ref("SearchHit")}},
            required=("session_id", "matched_messages"))},
        "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "next_cursor": {"type": "string", "nullable": True}}, required=("results", "total", "limit", "offset")),
    "ReactionRequest": obj({"reaction_type": {"type": "string", "enum": ["like", "dislike", "none"]}},
                           required=("reaction_type",), extra=False),
    "ReactionResponse": obj({"message_id": MESSAGE_ID, "reaction_type": {"type": "string",
                                                                          "enum": ["like", "dislike", "none"]},
                             "applied": {"type": "boolean", "description": "false when nothing changed"}},
                            required=("message_id", "reaction_type", "applied")),
    "SessionType": obj({
        "session_type_id": SESSION_TYPE_ID, "name": {"type": "string"}, "description": {"type": "string"},
        "webhook_url": {"type": "string"}, "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 300},
        "summarization_enabled": {"type": "boolean"}, "summarization_url": {"type": "string", "nullable": True},
        "summarization_settings": {"type": "object"}, **STREAM_SETTINGS, "created_at": TIME, "updated_at": TIME,
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
        **STREAM_SETTINGS,
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
        "/sessions": {
            "post": {"operationId": "createSession", "summary": "Create a session (the backend announces capabilities)",
                     "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": json_body(ref("SessionCreateRequest")),
                     "responses": {"201": {**json_response("Created", ref("SessionCreateResponse")),
                                           "headers": REPLAYED},
                                   **errors(400, 401, 413, 503), "409": BUSY_CONFLICT}},
            "get": {"operationId": "listSessions", "summary": "The caller's sessions, newest first",
                    "parameters": [query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100,
                                                         "default": 20}),
                                   query_param("cursor", {"type": "string"}, "next_cursor of the previous page"),
                                   query_param("tag", {"type": "string"}, "only sessions with this tag")],
                    "responses": {"200": json_response("Sessions", ref("SessionList")), **errors(400, 401)}}},
        "/sessions/{id}": {
            "parameters": [session_param],
            "get": {"operationId": "getSession", "summary": "Get a session",
                    "responses": {"200": json_response("The session", ref("Session")), **errors(400, 401, 404)}},
            "patch": {"operationId": "updateSession", "summary": "Update title, tags and metadata (ADR-0020)",
                      "requestBody": json_body(ref("SessionUpdateRequest")),
                      "responses": {"200": json_response("The session", ref("Session")), **errors(400, 401, 404)}},
            "delete": {"operationId": "deleteSession",
                       "summary": "Delete a session and all its messages (backend notified afterwards)",
                       "responses": {"200": json_response("Deleted", ref("Deleted")), **errors(400, 401, 404)}}},
        "/sessions/{id}/type": {"patch": {
            "operationId": "switchSessionType",
            "summary": "Switch the backend; it gets session.created, and the next message with the full history",
            "parameters": [session_param], "requestBody": json_body(ref("SwitchTypeRequest")),
            "responses": {"200": json_response("Switched", ref("SwitchTypeResponse")),
                          **errors(400, 401, 404, 503)}}},
        "/sessions/{id}/summarize": {"post": {
            "operationId": "summarizeSession",
            "summary": "Stream a summary (stored in metadata.summary); 400 unless the type enables it",
            "parameters": [session_param], "requestBody": json_body(ref("MessageRecreateRequest"), required=False),
            "responses": {"200": STREAM, **errors(400, 401, 404, 503)}}},
        "/sessions/{id}/export": {"post": {
            "operationId": "exportSession", "summary": "Render an export; returns a signed, expiring download URL",
            "parameters": [session_param], "requestBody": json_body(ref("ExportRequest")),
            "responses": {"200": json_response("Export ready", ref("ExportResponse")), **errors(400, 401, 404)}}},
        "/exports/{id}": {"get": {
            "operationId": "downloadExport", "summary": "Download an export by its signed link", "security": [],
            "parameters": [path_param("id", {"type": "string", "format": "uuid"}, "Export id"),
                           query_param("expires", {"type": "string"}, required=True),
                           query_param("signature", {"type": "string"}, required=True)],
            "responses": {"200": {"description": "The file (JSON, Markdown or text)",
                                  "content": {"application/json": {}, "text/markdown": {}, "text/plain": {}}},
                          **errors(400, 404)}}},
        "/sessions/{id}/share": {"post": {
            "operationId": "shareSession", "summary": "Create a share link (optional expiry)",
            "parameters": [session_param], "requestBody": json_body(ref("ShareRequest"), required=False),
            "responses": {"201": json_response("Created", ref("ShareCreated")), **errors(400, 401, 404)}}},
        "/sessions/{id}/shares": {"get": {
            "operationId": "listShares", "summary": "A session's share links (tokens are never shown again)",
            "parameters": [session_param],
            "responses": {"200": json_response("Shares", ref("ShareList")), **errors(400, 401, 404)}}},
        "/sessions/{id}/shares/{share_id}": {"delete": {
            "operationId": "revokeShare", "summary": "Revoke a share link, at once on every instance",
            "parameters": [session_param, path_param("share_id", {"type": "string", "format": "uuid"}, "Share id")],
            "responses": {"200": json_response("Revoked", obj({"revoked": {"type": "boolean"}})),
                          **errors(400, 401, 404)}}},
        "/share/{token}": {"get": {
            "operationId": "accessSharedSession", "summary": "Read-only view of a shared session", "security": [],
            "parameters": [path_param("token", {"type": "string"}, "Share token")],
            "responses": {"200": json_response("Shared session", ref("SharedSession")), **errors(404)}}},
        "/share/{token}/messages": {
            "parameters": [path_param("token", {"type": "string"}, "Share token")],
            "get": {"operationId": "recipientMessages",
                    "summary": "The recipient's view: the owner's path continued by the caller's own branch",
                    "responses": {"200": json_response("Shared session", ref("SharedSession")), **errors(401, 404)}},
            "post": {"operationId": "sendAsRecipient",
                     "summary": "Send as a share recipient: branches privately below the owner's last message",
                     "requestBody": json_body(ref("SharedSendRequest")),
                     "responses": {"200": STREAM, **errors(400, 401, 404, 503)}}},
        "/sessions/{id}/search": {"get": {
            "operationId": "searchSession", "summary": "Full-text search in one session",
            "parameters": [session_param, *SEARCH_PARAMS],
            "responses": {"200": json_response("Matches", ref("SearchResults")), **errors(400, 401, 404)}}},
        "/search": {"get": {
            "operationId": "searchAllSessions", "summary": "Full-text search across the caller's sessions",
            "parameters": SEARCH_PARAMS,
            "responses": {"200": json_response("Sessions with matches", ref("SessionSearchResults")),
                          **errors(400, 401)}}},
        "/messages/{id}/reaction": {"post": {
            "operationId": "reactToMessage", "summary": "like / dislike / none, one per user (ADR-0024)",
            "parameters": [message_param], "requestBody": json_body(ref("ReactionRequest")),
            "responses": {"200": json_response("Reaction", ref("ReactionResponse")), **errors(400, 401, 404)}}},
        "/sessions/{id}/messages": {"get": {
            "operationId": "listMessages",
            "summary": "The active path from the root; with parent_message_id, that node's children",
            "parameters": [session_param, {"name": "parent_message_id", "in": "query", "schema": MESSAGE_ID}],
            "responses": {"200": json_response("Messages", ref("MessageList")), **errors(400, 401, 404)}}},
        "/messages/send": {"post": {
            "operationId": "sendMessage", "summary": "Send a message; the reply streams back",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("MessageSendRequest")),
            "responses": {"200": STREAM, **errors(400, 401, 404, 413, 503), "409": BUSY_CONFLICT}}},
        "/messages/{id}/recreate": {"post": {
            "operationId": "recreateMessage", "summary": "A new variant of an assistant message, streamed",
            "parameters": [message_param, IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("MessageRecreateRequest"), required=False),
            "responses": {"200": STREAM, **errors(400, 401, 404, 503), "409": BUSY_CONFLICT}}},
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


# Feature areas may keep their paths and schemas in a module of their own (app/api/openapi_<area>.py,
# each with paths() and schemas() returning dicts); list them here so the document stays one.
AREA_MODULES = ("openapi_streams",)


def _area_parts(name):
    merged = {}
    for module_name in AREA_MODULES:
        module = import_module(f"app.api.{module_name}")
        merged.update(getattr(module, name)())
    return merged


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
        "paths": {**_paths(), **_area_parts("paths")},
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {**SCHEMAS, **_area_parts("schemas")},
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

"""The project's own OpenAPI 3.0 document, served at /api/v1/openapi.json.

It describes what this service really does (the client contract plus the engine's own additions:
admin, activate, health). Tests validate live responses and the requests they send against it.

Each fact has one home, and this module only assembles them: id formats come from app/ids.py (through
the fields of app/schemas/fields.py), content part types and their fields from app/schemas/content.py, request
bodies and query parameters from the marshmallow schemas the views load them with (app/schemas/requests.py),
response bodies from the shapes the views dump them with (app/schemas/responses.py), both through
app/schemas/jsonschema.py. Written here remain what no view dumps: the error body (errors.py builds it),
the stream's events (the relay writes them) and what backends define (capabilities, content parts).
"""
from functools import cache

from flask import Blueprint

from app import error_codes
from app.api import (
    openapi_chat_apps,
    openapi_conversations,
    openapi_events,
    openapi_streams,
    openapi_webhook_security,
)
from app.api.openapi_terms import (
    BUSY_CONFLICT,
    CONTENT_TYPES,
    IDEMPOTENCY_KEY,
    MESSAGE_ID,
    MESSAGE_PARAM,
    REPLAYED,
    SESSION_PARAM,
    SESSION_TYPE_PARAM,
    SHARE_TOKEN_PARAM,
    STREAM,
    TIME,
    UUID,
    array,
    errors,
    json_body,
    json_response,
    obj,
    part_fields,
    path_param,
    ref,
)
from app.replicas import READ_AFTER_HEADER
from app.schemas import requests, responses
from app.schemas.content import PARTS
from app.schemas.jsonschema import object_schema, query_parameters, response_schema

bp = Blueprint("openapi", __name__)

# --- schemas, by area -------------------------------------------------------------------------------

def _error_schemas():
    return {
        "ErrorDetails": obj({
            "trace_id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"},
            "validation_errors": array(obj(
                {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
                required=("field", "message"), extra=False)),
            "retry_after_seconds": {"type": "integer", "minimum": 0},
            "limit_type": {"type": "string",
                           "enum": ["per_second", "per_minute", "per_hour", "per_day", "concurrent"]},
            "quota_reset_at": TIME,
            "timeout_ms": {"type": "integer", "minimum": 0},
            "resource_id": UUID,
        }, extra=False),
        "Error": obj({
            "error_code": {"type": "string", "enum": list(error_codes.ALL)},
            "message": {"type": "string"},
            "details": ref("ErrorDetails"),
        }, required=("error_code", "message"), extra=False),
    }


def _session_schemas():
    return {
        "Capability": obj({"id": {"type": "string"}, "name": {"type": "string"},
                           "description": {"type": "string"}, "enabled_by_default": {"type": "boolean"},
                           "config": {"type": "object"}, "metadata": {"type": "object"}},
                          description="As announced by the session type's backend; passed through unchanged."),
        "SessionCreateRequest": object_schema(requests.SessionCreate),
        "SessionUpdateRequest": object_schema(requests.SessionUpdate),
        "SwitchTypeRequest": object_schema(requests.SessionSwitchType),
        "ForkRequest": object_schema(requests.SessionFork),
        "ExportRequest": object_schema(requests.SessionExport),
    }


def _message_schemas():
    return {
        "ContentPart": obj({"type": {"type": "string", "enum": CONTENT_TYPES},
                            **{payload: {"type": "string"} for payload, _ in PARTS.values()}, **part_fields()},
                           required=("type",),
                           description="Every field of the contract's part schemas is kept: text and code (with "
                                       "`language`), image/audio/video/document ids with `mime_type`, audio and "
                                       "video `duration_seconds`, document `filename`."),
        "MessageSendRequest": object_schema(requests.MessageSend),
        "MessageRecreateRequest": object_schema(requests.MessageRecreate),
        "SummarizeRequest": object_schema(requests.CapabilitiesOnly),
        "ReactionRequest": object_schema(requests.Reaction),
    }


def _stream_schemas():
    def event(kind, properties, required=()):
        return obj({"type": {"type": "string", "enum": [kind]}, "message_id": MESSAGE_ID, **properties},
                   required=("type", "message_id", *required), extra=False)

    return {
        "StreamingStartEvent": event("start", {}),
        "StreamingChunkEvent": event("chunk", {"chunk": obj(
            {"type": {"type": "string", "enum": CONTENT_TYPES}, "content": {"type": "string"}, **part_fields()},
            required=("type", "content"), extra=False,
            description="`content` is the part's payload (text, code, or a media id); the part's optional fields "
                        "from the backend ride along.")}, required=("chunk",)),
        "StreamingCompleteEvent": event("complete", {"metadata": {"type": "object"}}),
        "StreamingErrorEvent": event("error", {"error_code": {"type": "string"},
                                               "message": {"type": "string", "minLength": 1},
                                               "details": ref("ErrorDetails")}, required=("error_code", "message")),
    }


def _share_schemas():
    return {
        "ShareRequest": object_schema(requests.ShareCreate),
        "SharedSendRequest": object_schema(requests.SharedSend),
    }


def _admin_schemas():
    return {
        "SessionTypeCreate": object_schema(requests.SessionTypeCreate),
        "SessionTypeUpdate": object_schema(requests.SessionTypeUpdate),
    }


def _response_schemas():
    """Generated from the shapes the views dump responses with."""
    return {shape.component: response_schema(shape) for shape in responses.DOCUMENTED}


def _schemas():
    return {**_error_schemas(), **_session_schemas(), **_message_schemas(), **_stream_schemas(),
            **_share_schemas(), **_admin_schemas(), **_response_schemas()}


# --- paths, by area ---------------------------------------------------------------------------------

def _fork(operation_id, source_param, summary):
    """A fork, of one's own session or from a share: the same body and answers."""
    return {"operationId": operation_id, "summary": summary, "parameters": [source_param],
            "requestBody": json_body(ref("ForkRequest"), required=False),
            "responses": {"201": json_response("The new session", ref("Session")),
                          **errors(400, 401, 404, 409, 503)}}


def _session_paths():
    return {
        "/sessions": {
            "post": {"operationId": "createSession", "summary": "Create a session (the backend announces capabilities)",
                     "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": json_body(ref("SessionCreateRequest")),
                     "responses": {"201": {**json_response("Created", ref("SessionCreateResponse")),
                                           "headers": REPLAYED},
                                   **errors(400, 401, 413, 503), "409": BUSY_CONFLICT}},
            "get": {"operationId": "listSessions", "summary": "The caller's sessions, newest first",
                    "parameters": query_parameters(requests.SessionListQuery),
                    "responses": {"200": json_response("Sessions", ref("SessionList")), **errors(400, 401)}}},
        "/sessions/{id}": {
            "parameters": [SESSION_PARAM],
            "get": {"operationId": "getSession", "summary": "Get a session",
                    "responses": {"200": json_response("The session", ref("Session")), **errors(400, 401, 404)}},
            "patch": {"operationId": "updateSession", "summary": "Update title, tags and metadata (ADR-0020)",
                      "requestBody": json_body(ref("SessionUpdateRequest")),
                      "responses": {"200": json_response("The session", ref("Session")),
                                    **errors(400, 401, 404, 413)}},
            "delete": {"operationId": "deleteSession",
                       "summary": "Delete a session and all its messages (backend notified afterwards)",
                       "responses": {"200": json_response("Deleted", ref("Deleted")), **errors(400, 401, 404)}}},
        "/sessions/{id}/type": {"patch": {
            "operationId": "switchSessionType",
            "summary": "Switch the backend; it gets session.created, and the next message with the full history",
            "parameters": [SESSION_PARAM], "requestBody": json_body(ref("SwitchTypeRequest")),
            "responses": {"200": json_response("Switched", ref("SwitchTypeResponse")),
                          **errors(400, 401, 404, 503)}}},
        "/sessions/{id}/fork": {"post": _fork(
            "forkSession", SESSION_PARAM,
            "Continue as a new session of the caller's: the path down to a message, copied (the backend gets "
            "session.created)")},
        "/sessions/{id}/summarize": {"post": {
            "operationId": "summarizeSession",
            "summary": "Stream a summary (stored in metadata.summary); 400 unless the type enables it",
            "parameters": [SESSION_PARAM], "requestBody": json_body(ref("SummarizeRequest"), required=False),
            "responses": {"200": STREAM, **errors(400, 401, 404, 429, 503)}}},
    }


def _message_paths():
    return {
        "/sessions/{id}/messages": {"get": {
            "operationId": "listMessages",
            "summary": "The active path from the root; with parent_message_id, that node's children",
            "parameters": [SESSION_PARAM, *query_parameters(requests.MessageListQuery)],
            "responses": {"200": json_response("Messages", ref("MessageList")),
                          **errors(400, 401, 404, 429, 503)}}},
        "/messages/send": {"post": {
            "operationId": "sendMessage", "summary": "Send a message; the reply streams back",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("MessageSendRequest")),
            "responses": {"200": STREAM, **errors(400, 401, 404, 413, 429, 503), "409": BUSY_CONFLICT}}},
        "/messages/{id}/recreate": {"post": {
            "operationId": "recreateMessage", "summary": "A new variant of an assistant message, streamed",
            "parameters": [MESSAGE_PARAM, IDEMPOTENCY_KEY],
            "requestBody": json_body(ref("MessageRecreateRequest"), required=False),
            "responses": {"200": STREAM, **errors(400, 401, 404, 429, 503), "409": BUSY_CONFLICT}}},
        "/messages/{id}": {"get": {
            "operationId": "getMessage", "summary": "One message with its variant info",
            "parameters": [MESSAGE_PARAM],
            "responses": {"200": json_response("The message", ref("Message")), **errors(400, 401, 404)}}},
        "/messages/{id}/variants": {"get": {
            "operationId": "getMessageVariants", "summary": "The siblings of a message, by variant index, paged",
            "description": "At most `limit` siblings, and fewer once their content passes SIBLING_PAGE_MAX_BYTES "
                           "(at least one); `next_cursor` pages on. With small siblings the default page holds "
                           "all of them (a parent has at most MAX_SIBLINGS_PER_PARENT).",
            "parameters": [MESSAGE_PARAM, *query_parameters(requests.VariantsQuery)],
            "responses": {"200": json_response("Variants", ref("MessageVariants")),
                          **errors(400, 401, 404, 429, 503)}}},
        "/messages/{id}/activate": {"post": {
            "operationId": "activateMessage",
            "summary": "Make this variant (and its ancestors) active; the next send continues below it",
            "parameters": [MESSAGE_PARAM],
            "responses": {"200": json_response("The activated message", ref("Message")), **errors(400, 401, 404)}}},
        "/messages/{id}/reaction": {"post": {
            "operationId": "reactToMessage", "summary": "like / dislike / none, one per user (ADR-0024)",
            "parameters": [MESSAGE_PARAM], "requestBody": json_body(ref("ReactionRequest")),
            "responses": {"200": json_response("Reaction", ref("ReactionResponse")), **errors(400, 401, 404)}}},
    }


def _export_paths():
    return {
        "/sessions/{id}/export": {"post": {
            "operationId": "exportSession", "summary": "Render an export; returns a signed, expiring download URL",
            "description": "An unchanged session's live export of the same format and scope is returned again "
                           "(its life extended) instead of being rebuilt. 413: the export is over EXPORT_MAX_BYTES; "
                           "429: the client's live exports are at EXPORT_MAX_PER_CLIENT or would exceed "
                           "EXPORT_MAX_BYTES_PER_CLIENT (Retry-After: until the first of them expires).",
            "parameters": [SESSION_PARAM], "requestBody": json_body(ref("ExportRequest")),
            "responses": {"200": json_response("Export ready", ref("ExportResponse")),
                          **errors(400, 401, 404, 413, 429, 503)}}},
        "/exports/{id}": {"get": {
            "operationId": "downloadExport", "summary": "Download an export by its signed link", "security": [],
            "parameters": [path_param("id", UUID, "Export id"), *query_parameters(requests.ExportDownload)],
            "responses": {"200": {"description": "The file (JSON, Markdown or text)",
                                  "content": {"application/json": {}, "text/markdown": {}, "text/plain": {}}},
                          **errors(400, 404, 503)}}},
    }


def _share_paths():
    return {
        "/sessions/{id}/share": {"post": {
            "operationId": "shareSession", "summary": "Create a share link (optional expiry)",
            "parameters": [SESSION_PARAM], "requestBody": json_body(ref("ShareRequest"), required=False),
            "responses": {"201": json_response("Created", ref("ShareCreated")), **errors(400, 401, 404)}}},
        "/sessions/{id}/shares": {"get": {
            "operationId": "listShares", "summary": "A session's share links (tokens are never shown again)",
            "parameters": [SESSION_PARAM],
            "responses": {"200": json_response("Shares", ref("ShareList")), **errors(400, 401, 404)}}},
        "/sessions/{id}/shares/{share_id}": {"delete": {
            "operationId": "revokeShare", "summary": "Revoke a share link, at once on every instance",
            "parameters": [SESSION_PARAM, path_param("share_id", UUID, "Share id")],
            "responses": {"200": json_response("Revoked", ref("ShareRevoked")),
                          **errors(400, 401, 404)}}},
        "/share/{token}": {"get": {
            "operationId": "accessSharedSession", "summary": "Read-only view of a shared session", "security": [],
            "parameters": [SHARE_TOKEN_PARAM, *query_parameters(requests.PageQuery)],
            "responses": {"200": json_response("Shared session", ref("SharedSession")), **errors(400, 404, 503)}}},
        "/share/{token}/fork": {"post": _fork(
            "forkAsRecipient", SHARE_TOKEN_PARAM,
            "A session of the recipient's own, from what the share shows them (the owner's hidden messages and "
            "message metadata left out)")},
        "/share/{token}/messages": {
            "parameters": [SHARE_TOKEN_PARAM],
            "get": {"operationId": "recipientMessages",
                    "summary": "The recipient's view: the owner's path continued by the caller's own branch",
                    "parameters": query_parameters(requests.PageQuery),
                    "responses": {"200": json_response("Shared session", ref("SharedSession")),
                                  **errors(400, 401, 404, 429, 503)}},
            "post": {"operationId": "sendAsRecipient",
                     "summary": "Send as a share recipient: branches privately below the owner's last message",
                     "requestBody": json_body(ref("SharedSendRequest")),
                     "responses": {"200": STREAM, **errors(400, 401, 404, 429, 503)}}},
    }


def _search_paths():
    search = query_parameters(requests.SearchQuery)
    return {
        "/sessions/{id}/search": {"get": {
            "operationId": "searchSession", "summary": "Full-text search in one session",
            "parameters": [SESSION_PARAM, *search],
            "responses": {"200": json_response("Matches", ref("SearchResults")),
                          **errors(400, 401, 404, 429, 503)}}},
        "/search": {"get": {
            "operationId": "searchAllSessions", "summary": "Full-text search across the caller's sessions",
            "parameters": search,
            "responses": {"200": json_response("Sessions with matches", ref("SessionSearchResults")),
                          **errors(400, 401, 429, 503)}}},
    }


def _admin_paths():
    return {
        "/admin/session-types": {
            "post": {"operationId": "createSessionType", "summary": "Register a session type (admin role)",
                     "requestBody": json_body(ref("SessionTypeCreate")),
                     "responses": {"201": json_response("Created; carries the webhook secret, shown only here",
                                                        ref("SessionTypeCreated")), **errors(400, 401, 404, 409)}},
            "get": {"operationId": "listSessionTypes", "summary": "List session types (admin role)",
                    "responses": {"200": json_response("Session types", ref("SessionTypeList")), **errors(401, 404)}}},
        "/admin/session-types/{id}": {
            "parameters": [SESSION_TYPE_PARAM],
            "get": {"operationId": "getSessionType", "summary": "Get a session type (admin role)",
                    "responses": {"200": json_response("The session type", ref("SessionType")),
                                  **errors(400, 401, 404)}},
            "patch": {"operationId": "updateSessionType", "summary": "Change a session type (admin role)",
                      "requestBody": json_body(ref("SessionTypeUpdate")),
                      "responses": {"200": json_response("The session type", ref("SessionType")),
                                    **errors(400, 401, 404)}},
            "delete": {"operationId": "deleteSessionType", "summary": "Delete an unused session type (admin role)",
                       "responses": {"200": json_response("Deleted", ref("Deleted")), **errors(400, 401, 404, 409)}}},
    }


def _document_paths():
    return {
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                  "responses": {"200": json_response("OpenAPI 3.0 document", {"type": "object"})}}},
    }


def _paths():
    return {**_session_paths(), **_message_paths(), **_export_paths(), **_share_paths(), **_search_paths(),
            **_admin_paths(), **_document_paths()}


# Feature areas may keep their paths and schemas in a module of their own (app/api/openapi_<area>.py,
# each with paths() and schemas() returning dicts, written with openapi_terms); list them here so the
# document stays one.
AREA_MODULES = (openapi_chat_apps, openapi_webhook_security, openapi_streams, openapi_conversations, openapi_events)


def _area_parts(name):
    merged = {}
    for module in AREA_MODULES:
        merged.update(getattr(module, name)())
    return merged


def _all_paths():
    """The core paths plus the areas'; an area may add operations to a core path (a DELETE beside a GET)."""
    paths = _paths()
    for path, operations in _area_parts("paths").items():
        paths[path] = {**paths.get(path, {}), **operations}
    return _with_read_after(paths)


READ_AFTER_DOC = ("Read-your-writes with read replicas (DATABASE_READ_URL; docs/api.md): an opaque token a "
                  "write's response carried. The read sees that write, wherever it lands: on a replica that "
                  "has replayed that far, else on the primary. Without it a read may be served by a replica "
                  "up to READ_MAX_LAG_SECONDS behind. Without replicas it is accepted and changes nothing.")


def _with_read_after(paths):
    """The read-after token, on every operation at once: a header every read accepts and every successful
    write answers with (when replicas are configured; app/replicas.py)."""
    parameter = {"name": READ_AFTER_HEADER, "in": "header", "required": False, "description": READ_AFTER_DOC,
                 "schema": {"type": "string", "maxLength": 17}}
    header = {"description": "With read replicas: the token to present as " + READ_AFTER_HEADER + " on the next "
                             "reads (a streamed reply's complete line carries one in metadata.read_after)",
              "schema": {"type": "string"}}
    for operations in paths.values():
        for method, operation in operations.items():
            if method == "get":
                operation["parameters"] = [*operation.get("parameters", []), parameter]
            elif method in ("post", "put", "patch", "delete"):
                for status, response in operation.get("responses", {}).items():
                    if status.startswith("2") and "$ref" not in response:
                        response["headers"] = {**response.get("headers", {}), READ_AFTER_HEADER: header}
    return paths


def _error_response(description):
    return json_response(description, ref("Error"))


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
        "paths": _all_paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {**_schemas(), **_area_parts("schemas")},
            "responses": {
                "BadRequest": _error_response("Invalid request (validation_errors in details)"),
                "Unauthorized": _error_response("Missing or invalid token"),
                "NotFound": _error_response("Not found, or not the caller's"),
                "Conflict": _error_response("Conflicts with the current state"),
                "TooLarge": _error_response("Request body over the size cap, metadata over its cap, content "
                                            "too large to index, or an export over its cap"),
                "TooManyRequests": _error_response("Too many concurrent streams or expensive reads (searches, "
                                                   "exports, message pages), or live exports, for this client "
                                                   "(details.limit_type = concurrent; see Retry-After)"),
                "Unavailable": _error_response("Overloaded, database unavailable, or backend breaker open "
                                               "(see Retry-After)"),
                "InternalServerError": _error_response("Unexpected error (trace_id in details)"),
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    return document()

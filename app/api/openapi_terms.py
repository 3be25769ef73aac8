"""The OpenAPI document's vocabulary: id formats, the stream, shared parameters and the small builders
(ref, obj, errors, ...) that app/api/openapi.py and its area modules (openapi_<area>.py) write with."""
from app import ids
from app.schemas import fields as id_fields
from app.schemas.content import PARTS
from app.schemas.fields import ref

SESSION_ID = id_fields.SessionId.json_schema
MESSAGE_ID = id_fields.MessageId.json_schema
SESSION_TYPE_ID = id_fields.SessionTypeId.json_schema
UUID = id_fields.PlainUuid.json_schema
UUID_PATTERN = ids.UUID_PATTERN
TIME = {"type": "string", "format": "date-time"}
CONTENT_TYPES = list(PARTS)

def part_fields():
    """Every optional field a content part type defines (app/schemas/content.py), by its JSON type."""
    kinds = {name: kind for _, optional in PARTS.values() for name, kind in optional.items()}
    return {name: {"type": "number", "minimum": 0} if kind == "seconds" else {"type": "string"}
            for name, kind in kinds.items()}


def obj(properties, required=(), extra=None, **more):
    schema = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = list(required)
    if extra is not None:
        schema["additionalProperties"] = extra
    return schema


def array(items):
    return {"type": "array", "items": items}


def json_body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def json_response(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses):
    names = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 413: "TooLarge",
             429: "TooManyRequests", 503: "Unavailable", 500: "InternalServerError"}
    return {str(s): {"$ref": f"#/components/responses/{names[s]}"} for s in (*statuses, 500)}


def path_param(name, schema, description):
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query_param(name, schema, description="", required=False):
    """For a parameter no marshmallow schema loads; prefer query_parameters(SomeQuerySchema)."""
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


SESSION_PARAM = path_param("id", SESSION_ID, "Session id")
MESSAGE_PARAM = path_param("id", MESSAGE_ID, "Message id")
SESSION_TYPE_PARAM = path_param("id", SESSION_TYPE_ID, "Session type id")
SHARE_TOKEN_PARAM = path_param("token", {"type": "string"}, "Share token")

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
                   "(validation_errors[0].code `reply_in_progress`, details.resource_id its uuid), an "
                   "Idempotency-Key reused with another body (`idempotency_key_reused`), or a new variant "
                   "(recreate, branch, edit) past MAX_SIBLINGS_PER_PARENT under its parent (`too_many_variants`).",
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
                "X-User-Message-Id": {"schema": MESSAGE_ID}, **REPLAYED,
                "X-Chat-Engine-Queued": {"schema": {"type": "string", "enum": ["true"]},
                                         "description": "if_busy enqueue found a reply streaming: this reply "
                                                        "waits, and the stream follows it once it starts"},
                "X-Chat-Engine-Waits-For": {"schema": MESSAGE_ID,
                                            "description": "The reply a queued one waits for"}},
    "content": {"application/x-ndjson": {"schema": {"oneOf": [
        ref("StreamingStartEvent"), ref("StreamingChunkEvent"), ref("StreamingCompleteEvent"),
        ref("StreamingErrorEvent")]}}},
}

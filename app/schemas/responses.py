"""The contract's response shapes, as marshmallow schemas: views dump stored rows with them (GTS ids,
content parts, variant info), and the OpenAPI document is generated from them (app/api/openapi.py, via
app/schemas/jsonschema.response_schema), so a response shape is written once, as request shapes are.

A shape with a `component` is the document's schema of that name (and referenced by it); `required=True`
marks the fields always present; `closed` shapes never carry other properties. Each shape is dumped
through one module-level instance (building a Schema is costly; dumping with one is stateless).
"""
from marshmallow import Schema, fields, validate

from app.schemas import requests
from app.schemas.fields import Computed, Documented, MessageId, PlainUuid, SameRow, SessionId, SessionTypeId, ref
from app.schemas.jsonschema import field_schema

NEXT_CURSOR_DOC = "Opaque; null on the last page"
ACCEPTS_FILES_DOC = ("Whether send accepts file_ids: the session type's setting, or else the backend's declared "
                     "`file_attachments` capability.")
WEBHOOK_SECRET = {"type": "string", "pattern": "^whsec_[A-Za-z0-9_-]{32,200}$",
                  "description": "Signs every webhook request to this session type (X-Chat-Engine-Signature: "
                                 "v1=hex HMAC-SHA256(secret, timestamp + '.' + raw body)). Shown only here."}


class Shape(Schema):
    is_response = True
    component = None  # its name among the document's schemas
    closed = False  # additionalProperties: false
    doc = None  # the schema's description in the document


def next_cursor():
    return fields.String(allow_none=True, metadata={"description": NEXT_CURSOR_DOC})


def content():
    return Documented({"type": "array", "items": ref("ContentPart")}, required=True)


# --- sessions -----------------------------------------------------------------------------------------

class Session(Shape):
    component = "Session"
    session_id = SessionId(attribute="id", required=True)
    client_id = fields.String(required=True)
    session_type_id = SessionTypeId(required=True)
    available_capabilities = Documented({"type": "array", "items": ref("Capability")}, required=True)
    accepts_files = fields.Boolean(metadata={"description": ACCEPTS_FILES_DOC})
    metadata = fields.Dict()
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class SessionCreated(Shape):
    component = "SessionCreateResponse"
    session_id = SessionId(attribute="id", required=True)
    available_capabilities = Documented({"type": "array", "items": ref("Capability")}, required=True)
    accepts_files = fields.Boolean(metadata={"description": ACCEPTS_FILES_DOC})


class SessionList(Shape):
    component = "SessionList"
    sessions = fields.List(fields.Nested(Session), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class SwitchedType(Shape):
    component = "SwitchTypeResponse"
    session_id = SessionId(attribute="id", required=True)
    session_type_id = SessionTypeId(required=True)


class ExportReady(Shape):
    component = "ExportResponse"
    download_url = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class Deleted(Shape):
    component = "Deleted"
    closed = True
    deleted = Documented({"type": "boolean", "enum": [True]}, required=True)


_COUNT = {"type": "integer", "minimum": 0}


class ErasedCounts(Shape):
    component = "ErasedCounts"
    closed = True
    sessions = Documented({**_COUNT, "description": "The caller's sessions"}, required=True)
    messages = Documented({**_COUNT, "description": "Messages in them, and the caller's own as a share "
                                                    "recipient in others' sessions"}, required=True)
    shares = Documented({**_COUNT, "description": "Share links of the caller's sessions"}, required=True)
    exports = Documented({**_COUNT, "description": "Stored exports"}, required=True)
    reactions = Documented({**_COUNT, "description": "Reactions on the caller's messages, and the caller's "
                                                     "anywhere"}, required=True)
    chunk_batches = Documented({**_COUNT, "description": "Stored batches of streamed chunks (rejoin logs)"},
                               required=True)
    idempotency_records = Documented({**_COUNT, "description": "Remembered Idempotency-Key answers"},
                                     required=True)


class Erased(Shape):
    component = "Erased"
    closed = True
    deleted = fields.Nested(ErasedCounts, required=True)


# --- messages -----------------------------------------------------------------------------------------

class VariantInfo(Shape):
    component = "VariantInfo"
    closed = True
    variant_index = fields.Integer(required=True, validate=validate.Range(min=0))
    total_variants = fields.Integer(required=True, validate=validate.Range(min=1))
    parent_message_id = PlainUuid(attribute="parent_id", allow_none=True)


def _summary(row):
    return row.get("reaction_summary") or {}


class Reactions(Shape):
    """Read from the row's `reaction_summary` (chat.reactions.summaries), absent: none."""
    component = "Reactions"
    like = Computed(lambda row: _summary(row).get("likes", 0), {"type": "integer", "minimum": 0}, required=True)
    dislike = Computed(lambda row: _summary(row).get("dislikes", 0), {"type": "integer", "minimum": 0},
                       required=True)


MY_REACTION = {"type": "string", "enum": ["like", "dislike", None], "nullable": True}


class Message(Shape):
    component = "Message"
    message_id = MessageId(attribute="id", required=True)
    session_id = SessionId(required=True)
    parent_message_id = MessageId(attribute="parent_id", required=True, allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(["user", "assistant", "system"]))
    content = content()
    file_ids = fields.List(PlainUuid())
    variant_index = fields.Integer(required=True, validate=validate.Range(min=0))
    is_active = fields.Boolean(required=True)
    is_complete = fields.Boolean(required=True)
    metadata = fields.Dict(metadata={"description": "An incomplete assistant reply carries `stop_reason`: "
                                    "cancelled, backend_error, backend_timeout, max_duration, shutdown, superseded "
                                    "or interrupted; assistant replies carry `session_type_id`."})
    created_at = fields.DateTime(required=True)
    hidden_from_user = fields.Boolean(attribute="is_hidden_from_user",
                                      metadata={"description": "Only ever true in the answer to a post."})
    hidden_from_backend = fields.Boolean(attribute="is_hidden_from_llm",
                                         metadata={"description": "Never sent to a backend (a note)."})
    variant_info = SameRow(VariantInfo)
    reactions = SameRow(Reactions)
    my_reaction = Computed(lambda row: _summary(row).get("mine"), MY_REACTION)


class SharedMessage(Message):
    """A message as a share link shows it, documented as a Message: no metadata (it records the owner's
    session type and what the backend reported, e.g. usage) and no reactions (the owner's and other
    clients')."""
    metadata = Computed(lambda row: {}, {"type": "object"})
    reactions = Computed(lambda row: {"like": 0, "dislike": 0}, ref("Reactions"))
    my_reaction = Computed(lambda row: None, MY_REACTION)


class MessageList(Shape):
    component = "MessageList"
    messages = fields.List(fields.Nested(Message), required=True)
    next_cursor = next_cursor()


class Variant(Shape):
    component = "MessageVariant"
    message_id = MessageId(attribute="id", required=True)
    variant_index = fields.Integer(required=True)
    content = content()
    is_active = fields.Boolean(required=True)
    is_complete = fields.Boolean()
    created_at = fields.DateTime()


class Variants(Shape):
    component = "MessageVariants"
    variants = fields.List(fields.Nested(Variant), required=True)
    current_index = fields.Integer(required=True, metadata={
        "description": "variant_index of the active sibling, whichever page it is on"})
    next_cursor = next_cursor()


class ReactionResult(Shape):
    component = "ReactionResponse"
    message_id = MessageId(required=True)
    reaction_type = requests.Reaction().fields["reaction_type"]
    applied = fields.Boolean(required=True, metadata={"description": "false when nothing changed"})


class StopResult(Shape):
    component = "StopResult"
    closed = True
    stopped = fields.Boolean(required=True)
    message = fields.Nested(Message, required=True)


class MessageDeleted(Shape):
    component = "MessageDeleted"
    closed = True
    deleted = Documented({"type": "boolean", "enum": [True]}, required=True)
    deleted_message_ids = fields.List(MessageId(), required=True,
                                      metadata={"description": "The message and every message below it."})
    activated_message_id = MessageId(required=True, allow_none=True, metadata={
        "description": "The sibling that became active in its place, if any."})


# --- shares -------------------------------------------------------------------------------------------

class ShareCreated(Shape):
    component = "ShareCreated"
    share_token = fields.String(required=True, validate=validate.Length(min=32))
    share_url = fields.String(required=True)
    share_id = PlainUuid(attribute="id", required=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)


class Share(Shape):
    component = "Share"
    share_id = PlainUuid(attribute="id", required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    active = Computed(lambda row: row["revoked_at"] is None, {"type": "boolean"}, required=True)


class ShareList(Shape):
    component = "ShareList"
    shares = fields.List(fields.Nested(Share), required=True)


class Revoked(Shape):
    component = "ShareRevoked"
    revoked = Documented({"type": "boolean", "enum": [True]}, required=True)


def _title(row):
    title = (row["metadata"] or {}).get("title")
    return title if isinstance(title, str) else None


class SharedSession(Shape):
    component = "SharedSession"
    closed = True
    doc = ("Only what was shared: the title and the messages (without their metadata or reactions); "
           "never the session's metadata or owner.")
    session_id = SessionId(attribute="id", required=True)
    messages = fields.List(fields.Nested(SharedMessage), required=True)
    read_only = Computed(lambda row: True, {"type": "boolean"}, required=True)
    title = Computed(_title, {"type": "string", "nullable": True})
    next_cursor = next_cursor()


# --- search -------------------------------------------------------------------------------------------

def _text_of(row):
    """The searchable words of a message: its text and code parts (what search_vector indexes)."""
    return " ".join(p.get("text") or p.get("code") or "" for p in row["content"]
                    if p.get("type") in ("text", "code"))


def _rank(key):
    return Computed(lambda row: round(float(row[key]), 6), {"type": "number"})


class SearchHit(Shape):
    component = "SearchHit"
    message_id = MessageId(attribute="id", required=True)
    content = Computed(_text_of, {"type": "string"}, required=True)
    context = fields.String(required=True, metadata={"description": "Snippet with <mark>…</mark> around matches"})
    created_at = fields.DateTime(required=True)
    role = fields.String()
    parent_message_id = MessageId(attribute="parent_id", allow_none=True)
    variant_index = fields.Integer()
    is_active = fields.Boolean()
    rank = _rank("rank")
    on_active_path = fields.Boolean(required=True, metadata={
        "description": "Every message from the root to this one is active."})
    variant_path = fields.List(fields.Integer(validate=validate.Range(min=0)), required=True, metadata={
        "description": "variant_index of each message from the root down to this one: activate this message "
                       "to open its branch."})


class _Page(Shape):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    next_cursor = fields.String(allow_none=True)


class SearchResults(_Page):
    component = "SearchResults"
    results = fields.List(fields.Nested(SearchHit), required=True)


class SessionMatches(Shape):
    session_id = SessionId(required=True)
    metadata = fields.Dict()
    rank = _rank("session_rank")
    matched_messages = fields.List(fields.Nested(SearchHit), required=True)


class SessionSearchResults(_Page):
    component = "SessionSearchResults"
    results = fields.List(fields.Nested(SessionMatches), required=True)


# --- session types ------------------------------------------------------------------------------------

def _type_setting(name, default):
    """A stream or conversation setting as responses show it: range and description from the request
    schema, the default from STREAM_DEFAULTS or CONVERSATION_DEFAULTS (None there: the instance's default,
    or off, so the value may be null)."""
    described = field_schema(requests.SessionTypeFields().fields[name])
    return Documented({**described, **({"nullable": True} if default is None else {"default": default})})


_TypeSettings = Shape.from_dict({name: _type_setting(name, default)
                                 for name, default in {**requests.STREAM_DEFAULTS,
                                                       **requests.CONVERSATION_DEFAULTS}.items()},
                                name="TypeSettings")


class SessionType(_TypeSettings):
    component = "SessionType"
    session_type_id = SessionTypeId(attribute="id", required=True)
    name = fields.String(required=True)
    description = fields.String()
    webhook_url = fields.String(required=True)
    timeout_seconds = Documented(field_schema(requests.SessionTypeFields().fields["timeout_seconds"]),
                                 required=True)
    summarization_enabled = fields.Boolean()
    summarization_url = fields.String(allow_none=True)
    summarization_settings = fields.Dict()
    accepts_files = fields.Boolean(allow_none=True, metadata={
        "description": "true/false decides for every session; null: the backend declares it (capability id "
                       "`file_attachments`)."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SessionTypeCreated(SessionType):
    component = "SessionTypeCreated"
    webhook_secret = Documented(WEBHOOK_SECRET, required=True)


class SessionTypeList(Shape):
    component = "SessionTypeList"
    session_types = fields.List(fields.Nested(SessionType), required=True)


class WebhookSecret(Shape):
    component = "WebhookSecret"
    closed = True
    session_type_id = SessionTypeId(attribute="id", required=True)
    webhook_secret = Documented(WEBHOOK_SECRET, required=True)


class SessionTypeSummary(Shape):
    """A session type as a client picks it: what it is, never where it is or how it is configured."""
    component = "SessionTypeSummary"
    closed = True
    session_type_id = SessionTypeId(attribute="id", required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    summarization_enabled = fields.Boolean(required=True)
    accepts_files = fields.Boolean(required=True, allow_none=True, metadata={
        "description": "true/false: every session of the type accepts file_ids or not; null: as its backend "
                       "declares (capability id `file_attachments` in session.created)."})


class SessionTypeCatalogue(Shape):
    component = "SessionTypeCatalogue"
    closed = True
    session_types = fields.List(fields.Nested(SessionTypeSummary), required=True)


# Every shape the document names, in one list (app/api/openapi.py generates its schemas from these).
DOCUMENTED = (Session, SessionCreated, SessionList, SwitchedType, ExportReady, Deleted, VariantInfo, Reactions,
              Message, MessageList, Variant, Variants, ReactionResult, StopResult, MessageDeleted, ShareCreated,
              Share, ShareList, Revoked, SharedSession, SearchHit, SearchResults, SessionSearchResults,
              SessionType, SessionTypeCreated, SessionTypeList, WebhookSecret, SessionTypeSummary,
              SessionTypeCatalogue, Erased, ErasedCounts)
_ONE = {shape: shape() for shape in DOCUMENTED}


def dump(shape, value):
    """`value` (a row, or a dict of rows for an envelope) in the response shape `shape`."""
    return _ONE[shape].dump(value)


def reacted(row, summaries):
    """A message row with its reaction summary (chat.reactions.summaries(); None: nobody reacted)."""
    return {**row, "reaction_summary": (summaries or {}).get(row["id"])}


def message(row, summaries=None):
    return dump(Message, reacted(row, summaries))

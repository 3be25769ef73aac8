"""Request bodies and query strings. Unknown body fields are errors (marshmallow's RAISE default)."""
from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.schemas.fields import MessageId, PlainUuid, SessionId, SessionTypeId, StrictInteger

CAPABILITY_NAME = fields.String(validate=validate.Length(min=1, max=200))
HTTP_URL = validate.And(validate.URL(schemes={"http", "https"}, require_tld=False), validate.Length(max=2000))


class SessionCreate(Schema):
    session_type_id = SessionTypeId(required=True)
    client_id = fields.String(validate=validate.Length(min=1, max=200))
    metadata = fields.Dict(keys=fields.String())


class MessageSend(Schema):
    session_id = SessionId(required=True)
    content = fields.String(required=True, validate=validate.Length(min=1))
    parent_message_id = MessageId(allow_none=True)
    file_ids = fields.List(PlainUuid(), validate=validate.Length(max=10))
    enabled_capabilities = fields.List(CAPABILITY_NAME, validate=validate.Length(max=100))
    if_busy = fields.String(load_default="reject", validate=validate.OneOf(["reject", "interrupt", "parallel"]))
    resumable = fields.Boolean(load_default=False)


class CapabilitiesOnly(Schema):
    enabled_capabilities = fields.List(CAPABILITY_NAME, validate=validate.Length(max=100))


class MessageRecreate(CapabilitiesOnly):
    resumable = fields.Boolean(load_default=False)


class StreamRejoinQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    offset = StrictInteger(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class MessageListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    parent_message_id = MessageId()


class SessionTypeFields(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=2000))
    webhook_url = fields.String(validate=HTTP_URL)
    timeout_seconds = StrictInteger(validate=validate.Range(min=1, max=300))
    max_reply_seconds = StrictInteger(validate=validate.Range(min=1, max=3600))
    breaker_failure_threshold = StrictInteger(validate=validate.Range(min=1, max=1000))
    breaker_open_seconds = StrictInteger(validate=validate.Range(min=1, max=3600))
    breaker_half_open_probes = StrictInteger(validate=validate.Range(min=1, max=100))
    summarization_enabled = fields.Boolean()
    summarization_url = fields.String(validate=HTTP_URL, allow_none=True)
    summarization_settings = fields.Dict(keys=fields.String())


class SessionTypeCreate(SessionTypeFields):
    session_type_id = SessionTypeId()
    health_check = fields.Boolean(load_default=False)

    @validates_schema
    def required_fields(self, data, **kwargs):
        missing = [name for name in ("name", "webhook_url") if name not in data]
        if missing:
            raise ValidationError({name: ["Missing data for required field."] for name in missing})


class SessionTypeUpdate(SessionTypeFields):
    pass


class SessionListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = StrictInteger(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(max=500))
    tag = fields.String(validate=validate.Length(min=1, max=100))


TAG = fields.String(validate=validate.Length(min=1, max=100))


class SessionUpdate(Schema):
    """Top-level title and tags are shortcuts for metadata.title and metadata.tags; `metadata` is an
    RFC 7386 merge patch (null removes a key)."""
    title = fields.String(validate=validate.Length(max=500), allow_none=True)
    tags = fields.List(TAG, validate=validate.Length(max=50), allow_none=True)
    metadata = fields.Dict(keys=fields.String())

    @validates_schema
    def something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError({"body": ["give title, tags or metadata"]})
        metadata = data.get("metadata") or {}
        if "title" in metadata and metadata["title"] is not None and not isinstance(metadata["title"], str):
            raise ValidationError({"metadata.title": ["must be a string"]})
        tags = metadata.get("tags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise ValidationError({"metadata.tags": ["must be a list of strings"]})


class SessionSwitchType(Schema):
    new_session_type_id = SessionTypeId(required=True)


class SessionExport(Schema):
    format = fields.String(required=True, validate=validate.OneOf(["json", "markdown", "txt"]))
    scope = fields.String(required=True, validate=validate.OneOf(["active", "all"]))


class ShareCreate(Schema):
    expires_at = fields.AwareDateTime(allow_none=True)

    @validates_schema
    def in_the_future(self, data, **kwargs):
        if data.get("expires_at") and data["expires_at"] <= datetime.now(UTC):
            raise ValidationError({"expires_at": ["must be in the future"]})


class SharedSend(Schema):
    content = fields.String(required=True, validate=validate.Length(min=1))
    file_ids = fields.List(PlainUuid(), validate=validate.Length(max=10))
    enabled_capabilities = fields.List(CAPABILITY_NAME, validate=validate.Length(max=100))


class SearchQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    query = fields.String(required=True, validate=validate.Length(min=1, max=500))
    limit = StrictInteger(load_default=20, validate=validate.Range(min=1, max=100))
    offset = StrictInteger(load_default=0, validate=validate.Range(min=0, max=10_000))
    cursor = fields.String(validate=validate.Length(max=500))


class Reaction(Schema):
    reaction_type = fields.String(required=True, validate=validate.OneOf(["like", "dislike", "none"]))


class ExportDownload(Schema):
    class Meta:
        unknown = EXCLUDE

    expires = fields.String(required=True, validate=validate.Length(max=20))
    signature = fields.String(required=True, validate=validate.Length(max=200))

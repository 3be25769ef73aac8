"""Request bodies and query strings. Unknown body fields are errors (marshmallow's RAISE default)."""
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


class CapabilitiesOnly(Schema):
    enabled_capabilities = fields.List(CAPABILITY_NAME, validate=validate.Length(max=100))


class MessageListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    parent_message_id = MessageId()


class SessionTypeFields(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=2000))
    webhook_url = fields.String(validate=HTTP_URL)
    timeout_seconds = StrictInteger(validate=validate.Range(min=1, max=300))
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

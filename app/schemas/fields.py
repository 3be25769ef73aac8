"""Marshmallow fields for the contract's id formats: they load GTS strings into UUIDs and dump UUIDs
as GTS strings. Plus two fields for response shapes whose JSON a marshmallow type cannot say.

Each says what it accepts as `json_schema` (read by app/schemas/jsonschema.py), from the patterns in app/ids.py.
"""
from marshmallow import ValidationError, fields

from app import ids
from app.schemas.content import part_errors


def ref(component):
    """A reference to a schema of the OpenAPI document's components."""
    return {"$ref": f"#/components/schemas/{component}"}


class _GtsId(fields.Field):
    parser = None
    render = staticmethod(str)
    kind = ""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = type(self).parser(value)
        if parsed is None:
            raise ValidationError(f"not a valid {self.kind} id")
        return parsed

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else type(self).render(value)


class SessionId(_GtsId):
    parser = staticmethod(ids.parse_session_id)
    render = staticmethod(ids.session_gts)
    kind = "session"
    json_schema = {"type": "string", "pattern": ids.SESSION_ID_PATTERN}


class MessageId(_GtsId):
    parser = staticmethod(ids.parse_message_id)
    render = staticmethod(ids.message_gts)
    kind = "message"
    json_schema = {"type": "string", "pattern": ids.MESSAGE_ID_PATTERN}


class SessionTypeId(fields.String):
    json_schema = {"type": "string", "pattern": ids.SESSION_TYPE_ID_PATTERN}

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not ids.is_session_type_id(value):
            raise ValidationError("not a valid session type id")
        return value


class PlainUuid(_GtsId):
    parser = staticmethod(ids.parse_uuid)
    kind = "file"
    json_schema = {"type": "string", "format": "uuid", "pattern": ids.UUID_PATTERN}


INT64_MAX = 2**63 - 1


class StrictInteger(fields.Integer):
    """An integer that refuses booleans, fractions and magnitudes no column holds (before any Range)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", False)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        # ASCII only: int() also reads "٣" (Arabic-Indic three) and other Unicode digits.
        if isinstance(value, bool) or (isinstance(value, str) and (len(value) > 12 or not value.isascii())):
            raise ValidationError("not a valid integer")
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError("not a valid integer")
        try:
            number = super()._deserialize(value, attr, data, **kwargs)
        except OverflowError:
            raise ValidationError("not a valid integer") from None
        if not -INT64_MAX <= number <= INT64_MAX:
            raise ValidationError("integer out of range")
        return number


class Content(fields.Field):
    """Message content: a non-empty string (one text part) or 1..100 content parts of the contract."""
    json_schema = {"oneOf": [{"type": "string", "minLength": 1},
                             {"type": "array", "minItems": 1, "maxItems": 100, "items": ref("ContentPart")}],
                   "description": "A string (one text part) or content parts in the contract's shapes."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value:
                raise ValidationError("must not be empty")
            return [{"type": "text", "text": value}]
        if not isinstance(value, list) or not 1 <= len(value) <= 100:
            raise ValidationError("give a string or a list of 1 to 100 content parts")
        problems = {index: part_errors(part) for index, part in enumerate(value)}
        problems = {index: errors for index, errors in problems.items() if errors}
        if problems:
            raise ValidationError(problems)
        return value


class Documented(fields.Raw):
    """A value dumped as it is (passed through from a backend, or JSON already), described by `json_schema`."""

    def __init__(self, json_schema, **kwargs):
        super().__init__(**kwargs)
        self.json_schema = json_schema


class Computed(fields.Function):
    """A value computed from the whole row, described by `json_schema`."""

    def __init__(self, serialize, json_schema, **kwargs):
        super().__init__(serialize, **kwargs)
        self.json_schema = json_schema


class SameRow(fields.Nested):
    """A nested shape built from the same row as its parent (a message's variant info)."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return obj

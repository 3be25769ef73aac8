"""app/schemas/jsonschema.py: marshmallow fields and schemas as OpenAPI 3.0 schema objects."""
import pytest
from marshmallow import EXCLUDE, Schema, fields, validate

from app import ids
from app.schemas.fields import MessageId, PlainUuid, SessionId, SessionTypeId, StrictInteger
from app.schemas.jsonschema import field_schema, object_schema, query_parameters


@pytest.mark.parametrize(("field", "expected"), [
    (fields.String(), {"type": "string"}),
    (fields.Boolean(), {"type": "boolean"}),
    (fields.Integer(), {"type": "integer"}),
    (StrictInteger(), {"type": "integer"}),
    (fields.Float(), {"type": "number"}),
    (fields.AwareDateTime(), {"type": "string", "format": "date-time"}),
    (fields.Date(), {"type": "string", "format": "date"}),
    (fields.UUID(), {"type": "string", "format": "uuid"}),
    (fields.Dict(keys=fields.String()), {"type": "object"}),
    (fields.Dict(keys=fields.String(), values=fields.Integer()),
     {"type": "object", "additionalProperties": {"type": "integer"}}),
    (fields.Raw(), {}),
])
def test_field_types(field, expected):
    assert field_schema(field) == expected


def test_our_id_fields_publish_the_patterns_their_parsers_use():
    assert field_schema(SessionId()) == {"type": "string", "pattern": ids.SESSION_ID_PATTERN}
    assert field_schema(MessageId()) == {"type": "string", "pattern": ids.MESSAGE_ID_PATTERN}
    assert field_schema(SessionTypeId()) == {"type": "string", "pattern": ids.SESSION_TYPE_ID_PATTERN}
    assert field_schema(PlainUuid())["pattern"] == ids.UUID_PATTERN


def test_a_declared_schema_is_copied_not_shared():
    field_schema(SessionId(allow_none=True))
    assert "nullable" not in SessionId.json_schema


def test_length_on_strings_and_on_lists():
    assert field_schema(fields.String(validate=validate.Length(min=1, max=5))) == \
        {"type": "string", "minLength": 1, "maxLength": 5}
    assert field_schema(fields.String(validate=validate.Length(equal=3))) == \
        {"type": "string", "minLength": 3, "maxLength": 3}
    assert field_schema(fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(max=10))) \
        == {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 10}


def test_ranges_inclusive_and_exclusive():
    assert field_schema(fields.Integer(validate=validate.Range(min=1, max=300))) == \
        {"type": "integer", "minimum": 1, "maximum": 300}
    assert field_schema(fields.Float(validate=validate.Range(min=0, min_inclusive=False))) == \
        {"type": "number", "minimum": 0, "exclusiveMinimum": True}


def test_one_of_is_an_enum_and_none_joins_it_when_allowed():
    assert field_schema(fields.String(validate=validate.OneOf(["a", "b"]))) == {"type": "string", "enum": ["a", "b"]}
    assert field_schema(fields.String(validate=validate.OneOf(["a"]), allow_none=True)) == \
        {"type": "string", "enum": ["a", None], "nullable": True}


def test_combined_validators_regexps_and_urls():
    url = validate.And(validate.URL(schemes={"https", "http"}), validate.Length(max=2000))
    assert field_schema(fields.String(validate=url)) == \
        {"type": "string", "format": "uri", "pattern": "^(http|https)://", "maxLength": 2000}
    assert field_schema(fields.String(validate=validate.Regexp("^[a-z]+$")))["pattern"] == "^[a-z]+$"


def test_python_whole_string_anchors_become_ecma_ones():
    assert field_schema(fields.String(validate=validate.Regexp(r"\A[0-9]{1,12}\Z")))["pattern"] == "^[0-9]{1,12}$"
    assert field_schema(fields.String(validate=validate.Regexp(r"a\\Ab")))["pattern"] == r"a\\Ab"


def test_validators_json_schema_cannot_express_are_left_out():
    assert field_schema(fields.Integer(validate=lambda value: value % 2 == 0)) == {"type": "integer"}


def test_defaults_and_descriptions():
    assert field_schema(fields.Integer(load_default=20, metadata={"description": "page size"})) == \
        {"type": "integer", "default": 20, "description": "page size"}
    assert "default" not in field_schema(fields.List(fields.String(), load_default=list))


class Inner(Schema):
    name = fields.String(required=True)


class Outer(Schema):
    inner = fields.Nested(Inner, required=True)
    many = fields.Nested(Inner, many=True)
    renamed = fields.String(data_key="displayName")
    computed = fields.String(dump_only=True)


def test_objects_nested_required_and_closed():
    inner = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
             "additionalProperties": False}
    assert object_schema(Outer) == {
        "type": "object",
        "properties": {"inner": inner, "many": {"type": "array", "items": inner}, "displayName": {"type": "string"}},
        "required": ["inner"], "additionalProperties": False}


class Query(Schema):
    class Meta:
        unknown = EXCLUDE

    q = fields.String(required=True, metadata={"description": "what to find"})
    limit = fields.Integer(load_default=20)


def test_schemas_that_ignore_unknown_fields_stay_open():
    assert "additionalProperties" not in object_schema(Query)


def test_query_parameters():
    assert query_parameters(Query()) == [
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}, "description": "what to find"},
        {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "default": 20},
         "description": ""}]

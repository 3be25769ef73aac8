"""Marshmallow schemas as OpenAPI 3.0 schema objects.

The request schemas in app/schemas/requests.py are what the engine enforces, and the response shapes in
app/schemas/responses.py are what it answers with; the OpenAPI document is generated from both here, so a
shape is written once. A field type of our own describes itself with a `json_schema` attribute
(app/schemas/fields.py); a field's `metadata={"description": ...}` becomes its description.
"""
import re

from marshmallow import RAISE, fields, missing, validate

from app.schemas.fields import ref

# Checked in order: a subclass before its base (Integer is a Number, Date a DateTime, UUID a String).
_TYPES = (
    (fields.Boolean, {"type": "boolean"}),
    (fields.Integer, {"type": "integer"}),
    (fields.Number, {"type": "number"}),
    (fields.Date, {"type": "string", "format": "date"}),
    (fields.DateTime, {"type": "string", "format": "date-time"}),
    (fields.UUID, {"type": "string", "format": "uuid"}),
    (fields.Email, {"type": "string", "format": "email"}),
    (fields.Url, {"type": "string", "format": "uri"}),
    (fields.String, {"type": "string"}),
    (fields.Mapping, {"type": "object"}),
)

_JSON_SCALARS = (bool, int, float, str)


def field_schema(field):
    """The JSON schema of one marshmallow field: type, constraints, nullability, default, description."""
    schema = _type_of(field)
    for validator in _validators(field.validators):
        _constrain(schema, validator)
    if field.allow_none:
        schema["nullable"] = True
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"].append(None)
    if field.load_default is not missing and isinstance(field.load_default, _JSON_SCALARS):
        schema["default"] = field.load_default
    if field.metadata.get("description"):
        schema["description"] = field.metadata["description"]
    return schema


def _object(fields_by_name, closed, description=None):
    properties, required = {}, []
    for name, field in fields_by_name.items():
        key = field.data_key or name
        properties[key] = field_schema(field)
        if field.required:
            required.append(key)
    result = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    if closed:
        result["additionalProperties"] = False
    if description:
        result["description"] = description
    return result


def object_schema(schema):
    """A request Schema (class or instance) as an object: its loadable fields, which are required, and
    whether other properties are refused (marshmallow's RAISE)."""
    schema = schema() if isinstance(schema, type) else schema
    return _object(schema.load_fields, schema.unknown == RAISE)


def response_schema(schema):
    """A response shape (class or instance) as an object: the fields it dumps, which are always there
    (`required=True`), whether other properties may appear (`closed`), and its description (`doc`)."""
    schema = schema() if isinstance(schema, type) else schema
    return _object(schema.dump_fields, schema.closed, schema.doc)


def query_parameters(schema):
    """A query-string Schema as OpenAPI parameters, one per field."""
    schema = schema() if isinstance(schema, type) else schema
    parameters = []
    for name, field in schema.load_fields.items():
        described = field_schema(field)
        parameters.append({"name": field.data_key or name, "in": "query", "required": field.required,
                           "schema": described, "description": described.pop("description", "")})
    return parameters


def _type_of(field):
    own = getattr(field, "json_schema", None)
    if own is not None:
        return dict(own)
    if isinstance(field, fields.List):
        return {"type": "array", "items": field_schema(field.inner)}
    if isinstance(field, fields.Nested):
        nested = field.schema
        if getattr(nested, "component", None):  # a response shape with a name of its own: referenced
            nested = ref(nested.component)
        else:
            nested = response_schema(nested) if getattr(nested, "is_response", False) else object_schema(nested)
        return {"type": "array", "items": nested} if field.many else nested
    for kind, schema in _TYPES:
        if isinstance(field, kind):
            schema = dict(schema)
            if isinstance(field, fields.Mapping) and field.value_field is not None:
                schema["additionalProperties"] = field_schema(field.value_field)
            return schema
    return {}  # fields.Raw and the like: any JSON value


def _ecma_anchors(pattern):
    r"""Python's \A and \Z (whole-string anchors) as the ^ and $ that JSON Schema's ECMA regexes use."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\\A", r"\1^", re.sub(r"(?<!\\)((?:\\\\)*)\\Z", r"\1$", pattern))


def _validators(validators):
    for validator in validators:
        if isinstance(validator, validate.And):
            yield from _validators(validator.validators)
        else:
            yield validator


def _constrain(schema, validator):
    if isinstance(validator, validate.Length):
        low, high = ("minItems", "maxItems") if schema.get("type") == "array" else ("minLength", "maxLength")
        if validator.equal is not None:
            schema[low] = schema[high] = validator.equal
        if validator.min is not None:
            schema[low] = validator.min
        if validator.max is not None:
            schema[high] = validator.max
    elif isinstance(validator, validate.Range):
        if validator.min is not None:
            schema["minimum"] = validator.min
            if not validator.min_inclusive:
                schema["exclusiveMinimum"] = True
        if validator.max is not None:
            schema["maximum"] = validator.max
            if not validator.max_inclusive:
                schema["exclusiveMaximum"] = True
    elif isinstance(validator, validate.OneOf):
        schema["enum"] = list(validator.choices)
    elif isinstance(validator, validate.Regexp):
        schema["pattern"] = _ecma_anchors(validator.regex.pattern)
    elif isinstance(validator, validate.URL):
        schema["format"] = "uri"
        if validator.schemes:
            schema["pattern"] = "^(" + "|".join(sorted(validator.schemes)) + ")://"
    # Any other validator (a function, Predicate, ...) checks what JSON Schema cannot say; the document
    # is then looser than the engine, never stricter.


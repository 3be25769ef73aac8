"""app/api/openapi.py: one document assembled from the facts' own homes, and the request checker that
holds the engine to it (tests/support/request_shapes.py)."""
import copy
import types
import uuid

import pytest
from marshmallow import ValidationError
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from app import ids
from app.api import openapi
from app.replicas import READ_AFTER_HEADER
from app.schemas import requests
from app.schemas.content import PARTS
from support.engine import token
from support.request_shapes import RequestShapeDrift, RequestShapes

SESSION = ids.session_gts(uuid.uuid4())
MESSAGE = ids.message_gts(uuid.uuid4())
TYPE = ids.session_type_gts("bot")
FILE = str(uuid.uuid4())


def test_the_document_is_valid_openapi_3():
    validate(openapi.document())


def test_id_formats_and_content_types_come_from_the_code_that_parses_them():
    schemas = openapi.document()["components"]["schemas"]
    assert schemas["Session"]["properties"]["session_id"]["pattern"] == ids.SESSION_ID_PATTERN
    assert schemas["Message"]["properties"]["message_id"]["pattern"] == ids.MESSAGE_ID_PATTERN
    assert schemas["Session"]["properties"]["session_type_id"]["pattern"] == ids.SESSION_TYPE_ID_PATTERN
    assert schemas["ContentPart"]["properties"]["type"]["enum"] == list(PARTS)
    fields = {payload for payload, _ in PARTS.values()} | {name for _, optional in PARTS.values() for name in optional}
    assert fields <= set(schemas["ContentPart"]["properties"])
    chunk = schemas["StreamingChunkEvent"]["properties"]["chunk"]["properties"]
    assert {name for _, optional in PARTS.values() for name in optional} <= set(chunk)


def _accepted_by_document(component, body):
    document = openapi.document()
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return OAS30Validator(schema).is_valid(body)


def _accepted_by_engine(schema, body):
    try:
        schema().load(body)
    except ValidationError:
        return False
    return True


# Bodies on both sides of each rule the request schemas enforce.
CASES = [
    ("SessionCreateRequest", requests.SessionCreate, {"session_type_id": TYPE}, True),
    ("SessionCreateRequest", requests.SessionCreate, {"session_type_id": TYPE, "metadata": {"title": "t"}}, True),
    ("SessionCreateRequest", requests.SessionCreate, {}, False),
    ("SessionCreateRequest", requests.SessionCreate, {"session_type_id": "bot"}, False),
    ("SessionCreateRequest", requests.SessionCreate, {"session_type_id": TYPE, "client_id": ""}, False),
    ("SessionCreateRequest", requests.SessionCreate, {"session_type_id": TYPE, "colour": "red"}, False),
    ("SessionCreateRequest", requests.SessionCreate, {"session_type_id": TYPE, "metadata": []}, False),
    ("MessageSendRequest", requests.MessageSend,
     {"session_id": SESSION, "content": "hi", "parent_message_id": None, "file_ids": [FILE]}, True),
    ("MessageSendRequest", requests.MessageSend, {"session_id": SESSION, "content": ""}, False),
    ("MessageSendRequest", requests.MessageSend, {"session_id": MESSAGE, "content": "hi"}, False),
    ("MessageSendRequest", requests.MessageSend, {"session_id": SESSION, "content": "hi", "parent_message_id": SESSION},
     False),
    ("MessageSendRequest", requests.MessageSend, {"session_id": SESSION, "content": "hi", "file_ids": [FILE] * 11},
     False),
    ("MessageSendRequest", requests.MessageSend, {"session_id": SESSION, "content": "hi", "file_ids": [FILE.upper()]},
     False),
    ("MessageSendRequest", requests.MessageSend, {"session_id": SESSION, "content": "hi", "enabled_capabilities": [""]},
     False),
    ("MessageRecreateRequest", requests.CapabilitiesOnly, {"enabled_capabilities": ["web"]}, True),
    ("MessageRecreateRequest", requests.CapabilitiesOnly, {"enabled_capabilities": "web"}, False),
    ("SessionUpdateRequest", requests.SessionUpdate, {"title": None, "tags": ["a"]}, True),
    ("SessionUpdateRequest", requests.SessionUpdate, {"tags": ["a"] * 51}, False),
    ("SessionUpdateRequest", requests.SessionUpdate, {"title": "x" * 501}, False),
    ("SwitchTypeRequest", requests.SessionSwitchType, {"new_session_type_id": TYPE}, True),
    ("SwitchTypeRequest", requests.SessionSwitchType, {"new_session_type_id": None}, False),
    ("ExportRequest", requests.SessionExport, {"format": "markdown", "scope": "all"}, True),
    ("ExportRequest", requests.SessionExport, {"format": "pdf", "scope": "all"}, False),
    ("ReactionRequest", requests.Reaction, {"reaction_type": "none"}, True),
    ("ReactionRequest", requests.Reaction, {"reaction_type": "love"}, False),
    ("ShareRequest", requests.ShareCreate, {"expires_at": None}, True),
    ("SharedSendRequest", requests.SharedSend, {"content": "hi"}, True),
    ("SharedSendRequest", requests.SharedSend, {"content": "hi", "session_id": SESSION}, False),
    ("SessionTypeCreate", requests.SessionTypeCreate, {"name": "x", "webhook_url": "http://127.0.0.1:1/"}, True),
    ("SessionTypeCreate", requests.SessionTypeCreate, {"name": "x"}, False),
    ("SessionTypeCreate", requests.SessionTypeCreate, {"name": "x", "webhook_url": "ftp://example/"}, False),
    ("SessionTypeCreate", requests.SessionTypeCreate,
     {"name": "x", "webhook_url": "http://127.0.0.1:1/", "timeout_seconds": 301}, False),
    ("SessionTypeCreate", requests.SessionTypeCreate,
     {"name": "x", "webhook_url": "http://127.0.0.1:1/", "timeout_seconds": True}, False),
    ("SessionTypeUpdate", requests.SessionTypeUpdate, {"timeout_seconds": 60}, True),
    ("SessionTypeUpdate", requests.SessionTypeUpdate, {"accepts_files": None}, True),
    ("MessagePostRequest", requests.MessagePost, {"role": "system", "content": "be brief"}, True),
    ("MessagePostRequest", requests.MessagePost,
     {"role": "user", "content": [{"type": "text", "text": "hi"}], "hidden_from_backend": True}, True),
    ("MessagePostRequest", requests.MessagePost, {"role": "bot", "content": "hi"}, False),
    ("MessagePostRequest", requests.MessagePost, {"role": "user", "content": []}, False),
    ("MessagePostRequest", requests.MessagePost, {"role": "user", "content": ""}, False),
    ("SessionTypeUpdate", requests.SessionTypeUpdate, {"session_type_id": TYPE}, False),
]


@pytest.mark.parametrize(("component", "schema", "body", "valid"), CASES)
def test_the_document_and_the_engine_agree_on_request_bodies(component, schema, body, valid):
    assert _accepted_by_document(component, body) is valid
    assert _accepted_by_engine(schema, body) is valid


def test_query_parameters_are_the_query_schemas():
    parameters = [p for p in openapi.document()["paths"]["/search"]["get"]["parameters"] if p["in"] == "query"]
    assert {p["name"]: p["required"] for p in parameters} == \
        {name: field.required for name, field in requests.SearchQuery().load_fields.items()}
    limit = next(p for p in parameters if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}


@pytest.fixture
def area_module(monkeypatch):
    module = types.ModuleType("app.api.openapi_example")
    module.paths = lambda: {
        "/examples": {"get": {"operationId": "listExamples", "responses": {
            "200": openapi.json_response("Examples", openapi.ref("Example"))}}},
        "/search": {"delete": {"operationId": "forgetSearches", "responses": {"200": {"description": "Done"}}}}}
    module.schemas = lambda: {"Example": openapi.obj({"name": {"type": "string"}})}
    monkeypatch.setattr(openapi, "AREA_MODULES", (*openapi.AREA_MODULES, module))
    openapi.document.cache_clear()
    yield
    openapi.document.cache_clear()


def test_area_modules_add_their_paths_and_schemas(area_module):
    document = openapi.document()
    assert "/examples" in document["paths"] and "/sessions" in document["paths"]
    assert set(document["paths"]["/search"]) == {"get", "delete"}  # an area may add an operation to a core path
    assert "Example" in document["components"]["schemas"] and "Session" in document["components"]["schemas"]
    validate(document)


def _auth():
    return {"Authorization": f"Bearer {token('alice')}"}


def test_the_checker_lets_consistent_requests_through(client):
    shapes = RequestShapes(openapi.document())
    refused = client.post("/api/v1/sessions", headers=_auth(), json={"session_type_id": TYPE, "colour": "red"})
    shapes.check("POST", "/sessions", {"session_type_id": TYPE, "colour": "red"}, None, refused)
    bad_id = client.get("/api/v1/sessions/nope", headers=_auth())
    shapes.check("GET", "/sessions/nope", None, None, bad_id)


def test_the_checker_fails_when_the_engine_refuses_what_the_document_allows(client):
    document = copy.deepcopy(openapi.document())
    document["components"]["schemas"]["SessionCreateRequest"]["properties"]["colour"] = {"type": "string"}
    body = {"session_type_id": TYPE, "colour": "red"}
    response = client.post("/api/v1/sessions", headers=_auth(), json=body)
    with pytest.raises(RequestShapeDrift, match="document allows a request the engine refuses"):
        RequestShapes(document).check("POST", "/sessions", body, None, response)


def test_the_checker_fails_when_the_engine_accepts_what_the_document_forbids(client):
    document = copy.deepcopy(openapi.document())
    document["paths"]["/openapi.json"]["get"]["parameters"] = [
        {"name": "format", "in": "query", "required": True, "schema": {"type": "string"}}]
    response = client.get("/api/v1/openapi.json")
    with pytest.raises(RequestShapeDrift, match="engine accepted a request its OpenAPI document forbids"):
        RequestShapes(document).check("GET", "/openapi.json", None, None, response)


def test_the_checker_prefers_literal_paths_and_checks_path_ids():
    shapes = RequestShapes(openapi.document())
    assert shapes.operation("POST", "/messages/send")[0] == "/messages/send"
    template, operation, values = shapes.operation("GET", f"/messages/{MESSAGE}")
    assert (template, values) == ("/messages/{id}", {"id": MESSAGE})
    assert shapes.parameter_problems(template, operation, "path", {"id": SESSION})
    assert shapes.operation("GET", "/nowhere") == (None, None, None)


def test_every_read_takes_the_read_after_token_and_every_write_answers_with_it():
    for path, operations in openapi.document()["paths"].items():
        for method, operation in operations.items():
            if method == "get":
                assert any(p["name"] == READ_AFTER_HEADER and p["in"] == "header"
                           for p in operation["parameters"]), (method, path)
            elif method in ("post", "put", "patch", "delete"):
                for status, response in operation["responses"].items():
                    if status.startswith("2"):
                        assert READ_AFTER_HEADER in response.get("headers", {}), (method, path, status)

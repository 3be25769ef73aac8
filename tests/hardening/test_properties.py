
"""Hostile input, property-based: every operation of the engine's own served OpenAPI document (streaming ones
included), fed hostile path ids, query parameters and bodies, never answers with a server error of its
own. Runs in-process on the real database with a real backend, bounded to a few seconds.

A 502/504 naming the backend (BACKEND_ERROR / BACKEND_TIMEOUT) is allowed: generated admin calls may aim a
session type at a closed port, and that failure is the backend's, correctly reported.
"""
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hardening.conftest import LocalApi

BACKEND_CODES = {"BACKEND_ERROR", "BACKEND_TIMEOUT"}
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", 400))  # raise it for a longer hunt; CI keeps it seconds
# Strings that broke the engine before and their neighbours.
HOSTILE_TEXT = ["\x00", "a\x00b", "\ud800", "x\udfff", "²", "٣", "é", "", " ", "\n", "a\n", "9" * 30, "-1",
                "1e999", "NaN", "null", "[]", "{}", "%00", "../..", "'; DROP TABLE sessions; --", "<mark>",
                "gts.hyperspot.chat_engine.session_types.bot.v1~\n", "\u202e", "\ufeff", "x" * 600]
HOSTILE_BODIES = [b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'{"x": 1e999}', b"[" * 5000,
                  b'{"a":' * 3000, b'{"content": "\\ud800"}', b'{"content": "\\u0000"}', b"\xff\xfe",
                  b'{"x": ' + b"9" * 5000 + b"}", b"", b"null", b"[]", b'"text"', b"{", b'{"metadata": {"a": '
                  + b'{"b": ' * 40 + b"1" + b"}" * 41 + b"}"]

text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20),
                 st.text(st.characters(codec=None, categories=["Cs", "Cc"]), max_size=5))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8)


def url_quote(value):
    return quote(value, safe="", errors="surrogatepass")  # a lone surrogate goes out as its raw UTF-8 bytes


def resolve(document, schema):
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


class World:
    """The valid objects that generated requests may refer to, so that requests also get past validation."""

    def __init__(self, local, backend):
        self.local = local
        self.owner = LocalApi(local, "prop-owner")
        # Erasing "my data" as the owner would take the shared session, and its type with it: a stranger does.
        self.stranger = LocalApi(local, "prop-stranger")
        self.operator = LocalApi(local, "prop-operator", admin=True)
        self.document = local.get("/api/v1/openapi.json").get_json()
        self.type_id = self.operator.post("/admin/session-types", json={
            "name": f"t_{uuid.uuid4().hex[:8]}", "webhook_url": backend.url}).get_json()["session_type_id"]
        self.backend_url = backend.url
        self.session_id = self.owner.create_session(self.type_id, metadata={"title": "prop"})
        events = self.owner.send(self.session_id, "hello world")
        self.message_id = events[-1]["message_id"]
        self.token = self.owner.post(f"/sessions/{self.session_id}/share", json={}).get_json()["share_token"]
        export_url = self.owner.post(f"/sessions/{self.session_id}/export",
                                     json={"format": "json", "scope": "all"}).get_json()["download_url"]
        self.export_id = re.search(r"/exports/([0-9a-f-]{36})", export_url).group(1)
        self.operations = [(path, method) for path, item in self.document["paths"].items()
                           for method in item if method != "parameters"]

    def valid_path_value(self, path, method, name):
        if method == "delete" and path == "/sessions/{id}":
            return self.owner.create_session(self.type_id)  # keep the shared session for the other requests
        if name == "token":
            return self.token
        if name == "share_id":
            return str(uuid.uuid4())
        if path.startswith("/sessions"):
            return self.session_id
        if path.startswith("/messages"):
            return self.message_id
        if path.startswith("/admin"):
            return self.type_id
        return self.export_id

    def valid_field(self, name):
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        return {"session_id": self.session_id, "content": "hello", "session_type_id": self.type_id,
                "new_session_type_id": self.type_id, "format": "json", "scope": "active", "reaction_type": "like",
                "name": f"t_{uuid.uuid4().hex[:8]}", "webhook_url": self.backend_url, "metadata": {"title": "t"},
                "title": "t", "tags": ["a"], "expires_at": future, "parent_message_id": self.message_id,
                "limit": 2, "query": "hello", "health_check": False}.get(name, "x")


@pytest.fixture
def world(local, backend):
    return World(local, backend)


@st.composite
def requests_for(draw, world):
    path, method = draw(st.sampled_from(world.operations))
    operation = world.document["paths"][path][method]
    parameters = world.document["paths"][path].get("parameters", []) + operation.get("parameters", [])
    url = path
    for name in re.findall(r"{(\w+)}", path):
        valid = draw(st.sampled_from([True, True, True, False]))
        value = world.valid_path_value(path, method, name) if valid else draw(text)
        url = url.replace("{" + name + "}", url_quote(value) or "x")
    query = {}
    for parameter in parameters:
        if parameter["in"] == "query" and draw(st.booleans()):
            name = parameter["name"]
            query[name] = draw(st.one_of(st.just(str(world.valid_field(name))), text, st.integers().map(str)))
    if query:
        url += "?" + "&".join(f"{url_quote(k)}={url_quote(v)}" for k, v in query.items())
    body = None
    if "requestBody" in operation:
        content = operation["requestBody"]["content"]["application/json"]["schema"]
        fields = list(resolve(world.document, content).get("properties", {}))
        kind = draw(st.sampled_from(["valid", "one_bad", "one_bad", "subset", "raw", "value"]))
        if kind == "raw":
            body = draw(st.sampled_from(HOSTILE_BODIES))
        elif kind == "value":
            body = json.dumps(draw(json_value)).encode()
        elif kind in ("valid", "one_bad"):
            # Every field valid but one: the hostile value meets the deepest code that reads it.
            data = {name: world.valid_field(name) for name in fields}
            if fields and kind == "one_bad":
                data[draw(st.sampled_from(fields))] = draw(json_value)
            body = json.dumps(data).encode()  # allow_nan: NaN/Infinity literals get through to the engine
        else:
            chosen = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
            mostly_valid = st.sampled_from([True, True, False])
            data = {name: world.valid_field(name) if draw(mostly_valid) else draw(json_value) for name in chosen}
            body = json.dumps(data).encode()
    return method, url, body, "admin" if path.startswith("/admin") else "stranger" if path == "/me/data" else "owner"


def check(response):
    status = response.status_code
    if response.mimetype == "application/x-ndjson":
        for line in response.get_data().splitlines():
            event = json.loads(line)
            assert not (event["type"] == "error" and event["error_code"] == "INTERNAL_ERROR"), event
        return
    body = response.get_json(silent=True)
    assert status < 500 or (body and body.get("error_code") in BACKEND_CODES), (status, body)
    if status >= 400:
        assert body and set(body) == {"error_code", "message", "details"}, (status, response.get_data()[:300])


def test_no_operation_answers_with_a_server_error(world):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=requests_for(world))
    def probe(request):
        method, url, body, caller = request
        api = {"admin": world.operator, "stranger": world.stranger, "owner": world.owner}[caller]
        kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
        if url.startswith("/events"):  # the change feed never ends by itself: its first line, then closed
            response = api.call(method, url, buffered=False, **kwargs)
            try:
                if response.status_code != 200:
                    check(response)
                else:
                    assert b'"type":"feed"' in next(iter(response.response), b"")
            finally:
                response.close()
            return
        check(api.call(method, url, **kwargs))

    probe()

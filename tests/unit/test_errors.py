"""app/errors.py, through the in-process app: bad input never gives a 500 or a stack trace; every failure
is the contract's error body. (Moved from the gunicorn tier: none of this depends on real processes.)"""
import base64
import json
import time
import uuid

import jwt
import pytest

from app import create_app, ids
from support.engine import JWT_SECRET, token
from support.inprocess import make_config

SEND = "/api/v1/messages/send"
SESSION_ID = ids.session_gts(uuid.uuid4())


def bearer(client_id="alice"):
    return {"Authorization": f"Bearer {token(client_id)}"}


@pytest.fixture(scope="module")
def database_client(database_url):
    """An in-process app with a pool on the test database, for errors found by a query."""
    app = create_app(make_config(database_url=database_url, db_pool_min_size=1))
    yield app.test_client()
    app.extensions["chat_engine"].db.close()


@pytest.mark.parametrize("body, field", [
    ({}, "session_id"),
    ({"session_id": "not-an-id", "content": "x"}, "session_id"),
    ({"session_id": "gts.hyperspot.chat_engine.entities.message.v1~" + str(uuid.uuid4()), "content": "x"},
     "session_id"),
    ({"content": 42}, "content"),
    ({"content": ""}, "content"),
    ({"content": "x", "surprise": True}, "surprise"),
    ({"content": "x", "file_ids": ["nope"]}, "file_ids.0"),
    ({"content": "x", "file_ids": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, "file_ids"),
    ({"content": "x", "parent_message_id": "42"}, "parent_message_id"),
    ({"content": "x", "enabled_capabilities": [1, 2]}, "enabled_capabilities.0"),
])
def test_invalid_send_bodies_are_400_with_the_field_named(client, contract, body, field):
    if "session_id" not in body and field != "session_id":
        body = {"session_id": SESSION_ID, **body}
    response = client.post(SEND, json=body, headers=bearer())
    error = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert field in [e["field"] for e in error["details"]["validation_errors"]], error
    assert "Traceback" not in response.text


@pytest.mark.parametrize("raw, content_type", [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b'{"content": "x"}', "text/plain"),
])
def test_malformed_bodies_are_400(client, contract, raw, content_type):
    response = client.post(SEND, data=raw, headers={**bearer(), "Content-Type": content_type})
    contract.validate_error(response, 400, "INVALID_REQUEST")


def test_oversized_body_is_413_in_the_contract_shape(client, contract):
    response = client.post(SEND, data=b'{"content": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                           headers={**bearer(), "Content-Type": "application/json"})
    contract.validate_error(response, 413, "INVALID_REQUEST")


@pytest.mark.parametrize("path", [
    "/sessions/123", "/sessions/gts.hyperspot.chat_engine.entities.session.v1~nope",
    "/messages/%00", "/messages/gts.hyperspot.chat_engine.entities.session.v1~" + str(uuid.uuid4()),
    "/messages/x/variants", "/sessions/x/messages",
])
def test_malformed_ids_in_paths_are_400(client, contract, path):
    contract.validate_error(client.get("/api/v1" + path, headers=bearer()), 400, "INVALID_REQUEST")


def test_malformed_query_id_is_400(client, contract):
    response = client.get(f"/api/v1/sessions/{SESSION_ID}/messages", query_string={"parent_message_id": "zzz"},
                          headers=bearer())
    contract.validate_error(response, 400, "INVALID_REQUEST")


def test_unknown_route_and_wrong_method_use_the_error_shape(client, contract):
    contract.validate_error(client.get("/api/v1/no/such/thing", headers=bearer()), 404, "INVALID_REQUEST")
    response = client.put(SEND, json={}, headers=bearer())
    contract.validate_error(response, 405, "INVALID_REQUEST")
    assert "POST" in response.headers["Allow"]


def test_missing_message_is_404(database_client, contract):
    missing = f"gts.hyperspot.chat_engine.entities.message.v1~{uuid.uuid4()}"
    body = contract.validate_error(database_client.get(f"/api/v1/messages/{missing}", headers=bearer()),
                                   404, "MESSAGE_NOT_FOUND")
    assert body["details"]["resource_id"] == missing.split("~")[1]


def _unsigned():
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'alice', 'exp': 9999999999})}."


@pytest.mark.parametrize("header", [
    None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt",
    "Bearer " + token("alice", ttl=-10),
    "Bearer " + token("alice", secret="a-different-secret-of-sufficient-length!!"),
    "Bearer " + _unsigned(),
    "Bearer " + jwt.encode({"exp": int(time.time()) + 86400}, JWT_SECRET, algorithm="HS256"),
])
def test_requests_without_a_valid_token_are_401(client, contract, header):
    headers = {"Authorization": header} if header else {}
    response = client.get(f"/api/v1/sessions/{SESSION_ID}", headers=headers)
    contract.validate_error(response, 401, "AUTH_REQUIRED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_error_bodies_carry_a_trace_id_and_the_request_id(client, contract):
    response = client.get("/api/v1/sessions/bad", headers={**bearer(), "X-Request-Id": "req-1"})
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["trace_id"] == response.headers["X-Trace-Id"]
    assert response.headers["X-Request-Id"] == "req-1"


def test_the_admin_surface_is_invisible_to_ordinary_clients(client, contract):
    contract.validate_error(client.get("/api/v1/admin/session-types", headers=bearer()), 404, "INVALID_REQUEST")


def test_the_public_endpoints_need_no_token():
    client = create_app(make_config()).test_client()
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/health/live").get_json() == {"status": "ok"}

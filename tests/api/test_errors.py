"""Bad input never gives a 500 or a stack trace: every failure is the contract's error body."""
import uuid

import pytest
import requests

from support.engine import JWT_SECRET, token

SEND = "/messages/send"


@pytest.fixture
def session_id(api, session_type):
    return api.create_session(session_type)


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
def test_invalid_send_bodies_are_400_with_the_field_named(api, session_id, contract, body, field):
    if "session_id" not in body and field != "session_id":
        body = {"session_id": session_id, **body}
    response = api.post(SEND, json=body)
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
def test_malformed_bodies_are_400(api, contract, raw, content_type):
    response = api.post(SEND, data=raw, headers={"Content-Type": content_type})
    contract.validate_error(response, 400, "INVALID_REQUEST")


def test_oversized_body_is_413_in_the_contract_shape(api, contract):
    response = api.post(SEND, data=b'{"content": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                        headers={"Content-Type": "application/json"})
    contract.validate_error(response, 413, "INVALID_REQUEST")


@pytest.mark.parametrize("path", [
    "/sessions/123", "/sessions/gts.hyperspot.chat_engine.entities.session.v1~nope",
    "/messages/%00", "/messages/gts.hyperspot.chat_engine.entities.session.v1~" + str(uuid.uuid4()),
    "/messages/x/variants", "/sessions/x/messages",
])
def test_malformed_ids_in_paths_are_400(api, contract, path):
    contract.validate_error(api.get(path), 400, "INVALID_REQUEST")


def test_malformed_query_id_is_400(api, session_id, contract):
    response = api.get(f"/sessions/{session_id}/messages", params={"parent_message_id": "zzz"})
    contract.validate_error(response, 400, "INVALID_REQUEST")


def test_unknown_route_and_wrong_method_use_the_error_shape(api, contract):
    contract.validate_error(api.get("/no/such/thing"), 404, "INVALID_REQUEST")
    response = api.call("PUT", "/messages/send", json={})
    contract.validate_error(response, 405, "INVALID_REQUEST")


def test_missing_message_is_404(api, contract):
    missing = f"gts.hyperspot.chat_engine.entities.message.v1~{uuid.uuid4()}"
    body = contract.validate_error(api.get(f"/messages/{missing}"), 404, "MESSAGE_NOT_FOUND")
    assert body["details"]["resource_id"] == missing.split("~")[1]


@pytest.mark.parametrize("header", [
    None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt",
    "Bearer " + token("alice", ttl=-10),
    "Bearer " + token("alice", secret="a-different-secret-of-sufficient-length!!"),
])
def test_requests_without_a_valid_token_are_401(engine, contract, header):
    headers = {"Authorization": header} if header else {}
    response = requests.get(engine.url + "/api/v1/sessions/gts.hyperspot.chat_engine.entities.session.v1~"
                            + str(uuid.uuid4()), headers=headers, timeout=10)
    contract.validate_error(response, 401, "AUTH_REQUIRED")


def test_unsigned_alg_none_token_is_refused(engine, contract):
    import base64
    import json

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    unsigned = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'alice', 'exp': 9999999999})}."
    response = requests.get(engine.url + "/api/v1/sessions/x", headers={"Authorization": f"Bearer {unsigned}"},
                            timeout=10)
    contract.validate_error(response, 401, "AUTH_REQUIRED")


def test_token_without_subject_is_refused(engine, contract):
    import time

    import jwt

    no_sub = jwt.encode({"exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
    response = requests.get(engine.url + "/api/v1/sessions/x", headers={"Authorization": f"Bearer {no_sub}"},
                            timeout=10)
    contract.validate_error(response, 401, "AUTH_REQUIRED")


def test_error_bodies_carry_a_trace_id(api, contract, engine):
    body = contract.validate_error(api.get("/sessions/bad"), 400, "INVALID_REQUEST")
    assert body["details"]["trace_id"]

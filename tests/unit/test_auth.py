"""app/auth.py: token verification, in-process (one Config per JWT setting, no server per setting)."""
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth import Caller, check_config, decode_token, issue_token
from app.errors import ApiError
from support.engine import JWT_SECRET, token
from support.inprocess import make_config


def refused(bearer, config):
    with pytest.raises(ApiError) as caught:
        decode_token(bearer, config)
    assert (caught.value.status, caught.value.error_code) == (401, "AUTH_REQUIRED")
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    return caught.value.message


def test_a_valid_token_names_the_caller_and_the_admin_role():
    config = make_config()
    assert decode_token(token("alice"), config) == Caller("alice", is_admin=False)
    assert decode_token(token("ops", admin=True), config) == Caller("ops", is_admin=True)


def test_roles_may_be_a_space_separated_string():
    assert decode_token(token("ops", roles="reader admin"), make_config()).is_admin


@pytest.mark.parametrize("bearer, message", [
    (token("alice", ttl=-10), "token expired"),
    (token("alice", secret="a-different-secret-of-sufficient-length!!"), "invalid token"),
    ("not.a.jwt", "invalid token"),
    (jwt.encode({"exp": int(time.time()) + 86400}, JWT_SECRET, algorithm="HS256"), "invalid token"),
    (jwt.encode({"sub": "", "exp": int(time.time()) + 86400}, JWT_SECRET, algorithm="HS256"), "token has no subject"),
    (token("a\u0000b"), "token subject is not a usable client id"),
    (token("\ud800"), "token subject is not a usable client id"),
    (token("x" * 256), "token subject is not a usable client id"),
])
def test_bad_tokens_are_refused_with_a_reason(bearer, message):
    assert refused(bearer, make_config()) == message


def test_unsigned_alg_none_token_is_refused():
    unsigned = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none")
    refused(unsigned, make_config())


def test_issuer_and_audience_are_checked_when_configured():
    config = make_config(jwt_issuer="https://issuer.example", jwt_audience="chat-engine")
    good = token("ops", admin=True, iss="https://issuer.example", aud="chat-engine")
    assert decode_token(good, config).client_id == "ops"
    for bad in (token("ops", admin=True, aud="chat-engine"),
                token("ops", admin=True, iss="https://evil.example", aud="chat-engine"),
                token("ops", admin=True, iss="https://issuer.example", aud="someone-else")):
        refused(bad, config)


def test_rs256_tokens_verify_with_the_configured_public_key_and_refuse_algorithm_confusion():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    config = make_config(jwt_algorithms=["RS256"], jwt_public_key=public_pem)
    signed = jwt.encode({"sub": "ops", "exp": int(time.time()) + 60, "roles": ["admin"]}, private, algorithm="RS256")
    assert decode_token(signed, config) == Caller("ops", is_admin=True)
    # An HS256 token must not pass where RS256 is configured (algorithm confusion).
    refused(token("ops", admin=True), config)


@pytest.mark.parametrize("settings", [
    {"jwt_algorithms": ["none"]}, {"jwt_algorithms": []}, {"jwt_secret": None},
    {"jwt_algorithms": ["RS256"]},  # no public key
])
def test_unusable_jwt_settings_stop_the_start(settings):
    with pytest.raises(RuntimeError):
        check_config(make_config(**settings))


def test_issued_development_tokens_verify():
    config = make_config(jwt_issuer="https://issuer.example")
    assert decode_token(issue_token(config, "dev", admin=True), config) == Caller("dev", is_admin=True)


def test_the_api_answers_401_in_process_under_a_configured_audience(contract_for):
    from app import create_app

    app = create_app(make_config(jwt_audience="chat-engine"))
    client = app.test_client()
    contract = contract_for(client)
    url = "/api/v1/admin/session-types"
    wrong_audience = client.get(url, headers={"Authorization": f"Bearer {token('ops', admin=True)}"})
    contract.validate_error(wrong_audience, 401, "AUTH_REQUIRED")
    assert wrong_audience.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_verified_once_is_still_refused_once_it_expires(monkeypatch):
    config = make_config()
    bearer = token("carol", ttl=60)
    assert decode_token(bearer, config) == Caller("carol", is_admin=False)
    assert decode_token(bearer, config) == Caller("carol", is_admin=False)  # from the verified tokens
    later = time.time() + 61
    monkeypatch.setattr("app.auth.time.time", lambda: later)
    assert refused(bearer, config) == "token expired"


def test_refused_tokens_are_not_kept_and_the_settings_are_part_of_the_key():
    from app.auth import _verified

    config = make_config()
    kept = _verified.cache_info().currsize
    refused(token("mallory", secret="a-different-secret-of-sufficient-length!!"), config)
    assert _verified.cache_info().currsize == kept
    bearer = token("dave")
    decode_token(bearer, config)
    assert refused(bearer, make_config(jwt_secret="another-secret-that-is-long-enough-to-pass!")) == "invalid token"

"""Issuer and audience are enforced when configured (SPEC §9)."""
import requests

from support.engine import token


def test_issuer_and_audience_are_checked_when_configured(start_engine, contract):
    engine = start_engine(JWT_ISSUER="https://issuer.example", JWT_AUDIENCE="chat-engine")
    url = engine.url + "/api/v1/admin/session-types"

    def status(bearer):
        return requests.get(url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)

    good = token("ops", admin=True, iss="https://issuer.example", aud="chat-engine")
    assert status(good).status_code == 200
    for bad in (token("ops", admin=True, aud="chat-engine"),
                token("ops", admin=True, iss="https://evil.example", aud="chat-engine"),
                token("ops", admin=True, iss="https://issuer.example", aud="someone-else")):
        contract.validate_error(status(bad), 401, "AUTH_REQUIRED")


def test_rs256_tokens_verify_with_the_configured_public_key(start_engine, contract):
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    engine = start_engine(JWT_ALGORITHMS="RS256", JWT_PUBLIC_KEY=public_pem)
    url = engine.url + "/api/v1/admin/session-types"
    claims = {"sub": "ops", "exp": int(time.time()) + 60, "roles": ["admin"]}

    signed = jwt.encode(claims, private, algorithm="RS256")
    assert requests.get(url, headers={"Authorization": f"Bearer {signed}"}, timeout=10).status_code == 200
    # An HS256 token "signed" with the public key text must not pass (algorithm confusion).
    forged = token("ops", admin=True)
    contract.validate_error(requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=10),
                            401, "AUTH_REQUIRED")

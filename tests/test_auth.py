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

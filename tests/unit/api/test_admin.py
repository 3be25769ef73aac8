"""app/api/admin.py, in-process: a failed health-check probe maps like every other backend failure."""
from app import create_app
from launch.embedded_postgres import free_port
from support.engine import token
from support.inprocess import make_config

ADMIN = {"Authorization": f"Bearer {token('ops', admin=True)}"}


def probe(client, name):
    return client.post("/api/v1/admin/session-types", headers=ADMIN, json={
        "name": name, "webhook_url": f"http://127.0.0.1:{free_port()}/", "health_check": True})


def test_an_unreachable_backend_is_502_with_the_probe_named(contract_for):
    client = create_app(make_config(webhook_retry_attempts=1)).test_client()
    body = contract_for(client).validate_error(probe(client, "unreachable"), 502, "BACKEND_ERROR")
    assert body["message"].startswith("health check failed: ")


def test_an_open_breaker_is_503_with_retry_after_as_everywhere_else(contract_for):
    app = create_app(make_config(webhook_retry_attempts=1))
    client = app.test_client()
    breaker = app.extensions["chat_engine"].webhooks.breakers.get(
        "gts.hyperspot.chat_engine.session_types.guarded.v1~")
    breaker._breaker.open()
    response = probe(client, "guarded")
    body = contract_for(client).validate_error(response, 503, "BACKEND_ERROR")
    assert body["message"].startswith("health check failed: ")
    assert int(response.headers["Retry-After"]) == body["details"]["retry_after_seconds"] >= 1


def test_invalid_session_types_are_400(client, contract):
    for body in ({"name": "x"}, {"name": "x", "webhook_url": "ftp://example/"},
                 {"name": "x", "webhook_url": "http://127.0.0.1:1/", "timeout_seconds": 301},
                 {"name": "x", "webhook_url": "http://127.0.0.1:1/", "timeout_seconds": True},
                 {"name": "Has Spaces", "webhook_url": "http://127.0.0.1:1/"},
                 {"session_type_id": "bad", "name": "x", "webhook_url": "http://127.0.0.1:1/"}):
        response = client.post("/api/v1/admin/session-types", json=body, headers=ADMIN)
        contract.validate_error(response, 400, "INVALID_REQUEST")

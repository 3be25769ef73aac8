"""app/cors.py: which origins get CORS headers, and preflights answered before authentication."""
import pytest

from app import create_app
from support.inprocess import make_config

LISTED = "https://chat.example"


@pytest.fixture
def cors_client():
    return create_app(make_config(cors_allowed_origins=[LISTED])).test_client()


def test_a_preflight_needs_no_token_and_echoes_the_requested_headers(cors_client):
    response = cors_client.options("/api/v1/sessions/x/messages", headers={
        "Origin": LISTED, "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert "DELETE" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, Idempotency-Key"


def test_answers_to_a_listed_origin_expose_the_id_headers_even_on_errors(cors_client):
    response = cors_client.get("/api/v1/sessions", headers={"Origin": LISTED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    exposed = response.headers["Access-Control-Expose-Headers"]
    for name in ("X-User-Message-Id", "X-Assistant-Message-Id", "Retry-After"):
        assert name in exposed


def test_an_unlisted_origin_gets_no_allow_origin(cors_client):
    preflight = cors_client.options("/api/v1/sessions", headers={"Origin": "https://evil.example",
                                                                 "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers
    response = cors_client.get("/api/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


def test_a_star_allows_any_origin():
    client = create_app(make_config(cors_allowed_origins=["*"])).test_client()
    response = client.get("/api/v1/openapi.json", headers={"Origin": "http://127.0.0.1:5173"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"


def test_unset_means_no_cors_at_all(client):
    preflight = client.options("/api/v1/sessions", headers={"Origin": LISTED, "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 401
    assert "Access-Control-Allow-Origin" not in preflight.headers

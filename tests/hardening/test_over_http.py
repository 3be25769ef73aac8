"""Hostile input through real gunicorn/gevent workers: what the in-process tier cannot show — hostile bytes
on a real socket, recursion inside a gevent worker, and the worker surviving all of it."""
import pytest
import requests


@pytest.mark.parametrize("body", [
    b"[" * 900_000,  # near the body cap: far past any recursion limit, inside a greenlet
    b'{"a":' * 150_000,
    b'{"session_id": "x", "content": "\\u0000"}',
    b'{"session_id": "x", "content": "\\ud800"}',
    b'{"session_id": "x", "content": NaN}',
])
def test_hostile_bodies_are_400_and_the_worker_lives(engine_process, api, contract, body):
    response = api.post("/messages/send", data=body, headers={"Content-Type": "application/json"})
    contract.validate_error(response, 400, "INVALID_REQUEST")
    assert requests.get(engine_process.url + "/health/live", timeout=5).status_code == 200


@pytest.mark.parametrize("path", ["/sessions?tag=a%00b", "/search?query=%00", "/sessions/x%00y",
                                  "/share/abc%00", "/sessions?tag=%ED%A0%80"])
def test_nul_in_urls_is_400_over_http(api, contract, path):
    response = api.get(path)
    if path.endswith("%ED%A0%80"):  # invalid UTF-8 in a query decodes to U+FFFD: an ordinary, harmless tag
        assert response.status_code == 200
    else:
        contract.validate_error(response, 400, "INVALID_REQUEST")

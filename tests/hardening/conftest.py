"""The hardening tier: hostile input against the app in-process (Flask test client) on the real database,
with real webhook backends on loopback; gunicorn only where the behaviour depends on it."""
import json
import uuid

import pytest

from app import create_app
from support.engine import token
from support.inprocess import make_config


class LocalApi:
    """One client's calls through the in-process app's test client."""

    def __init__(self, test_client, client_id=None, admin=False):
        self.client = test_client
        self.client_id = client_id or f"client-{uuid.uuid4().hex[:8]}"
        self.headers = {"Authorization": f"Bearer {token(self.client_id, admin=admin)}"}

    def call(self, method, path, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open("/api/v1" + path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self.call("get", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("post", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("patch", path, **kwargs)

    def raw(self, method, path, body, **kwargs):
        return self.call(method, path, data=body, content_type="application/json", **kwargs)

    def create_session(self, session_type_id, metadata=None):
        response = self.post("/sessions", json={"session_type_id": session_type_id,
                                                **({"metadata": metadata} if metadata is not None else {})})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["session_id"]

    def stream(self, path, body):
        response = self.post(path, json=body)
        events = [json.loads(line) for line in response.get_data().splitlines() if line.strip()] \
            if response.status_code == 200 else []
        return response, events

    def send(self, session_id, content):
        response, events = self.stream("/messages/send", {"session_id": session_id, "content": content})
        assert response.status_code == 200 and events[-1]["type"] == "complete", (response.status_code, events)
        return events


@pytest.fixture
def make_local(database_url, db):
    """make_local(**settings) -> an in-process app's test client on the test database (pool closed after).
    Depends on `db` so the functional tier's check-and-truncate runs after the test."""
    apps = []

    def make(**settings):
        app = create_app(make_config(**{"database_url": database_url, "db_pool_min_size": 1, **settings}))
        apps.append(app)
        return app.test_client()
    yield make
    for app in apps:
        app.extensions["chat_engine"].db.close()


@pytest.fixture
def local(make_local):
    return make_local()


@pytest.fixture
def owner(local):
    return LocalApi(local)


@pytest.fixture
def operator(local):
    return LocalApi(local, "operator", admin=True)


@pytest.fixture
def local_session_type(operator, backend):
    name = f"t_{uuid.uuid4().hex[:10]}"
    response = operator.post("/admin/session-types", json={"name": name, "webhook_url": backend.url})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["session_type_id"]

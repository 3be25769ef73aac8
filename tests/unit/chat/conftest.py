"""Rows to work on, made through app/chat itself inside the test's rolled-back transaction."""
import uuid

import pytest
from psycopg.types.json import Jsonb

from app.chat import session_types
from app.db import queries as q
from app.metrics import get_metrics
from app.webhooks.client import WebhookClient
from support.inprocess import make_config

CAPABILITIES = [{"id": "web_search", "enabled_by_default": True}, {"id": "file_attachments"}]


@pytest.fixture
def webhooks():
    """A real client; exchanges only pass its breaker admission here, nothing is sent."""
    return WebhookClient(make_config(), get_metrics())


@pytest.fixture
def session_type(database):
    row = session_types.create(database, {"name": f"t_{uuid.uuid4().hex[:10]}", "webhook_url": "http://127.0.0.1:9/",
                                          "summarization_enabled": True})
    return row["id"]


@pytest.fixture
def make_session(conn, session_type):
    """Stores a session as `sessions.create_session` does once its backend has answered."""
    def make(client_id="alice", metadata=None):
        row = q.insert_session(conn, id=uuid.uuid4(), client_id=client_id, session_type_id=session_type,
                               capabilities=Jsonb(CAPABILITIES), metadata=Jsonb(metadata or {}))
        return row["id"]
    return make

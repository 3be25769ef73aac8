"""The same-stack floor: the least a relay on this stack does per exchange, to compare the engine with.

    JWT_SECRET=… DATABASE_URL=… RELAY_BACKEND_URL=http://127.0.0.1:9100/ \
        gunicorn -k gevent -w 2 -b 127.0.0.1:8100 loadtests.relay:app

POST /api/v1/messages/send {"session_id", "content"} with a Bearer JWT: transaction 1 is one statement
(loadtests/sql/relay.sql: the path read walks up from a leaf pointer by primary key), the history items
are built here in Python, the backend's NDJSON is relayed with no connection held, transaction 2 is one
UPDATE. No validation beyond the essentials, no limits, no idempotency: a floor, not a product.
"""
from gevent import monkey

monkey.patch_all()  # before psycopg: it picks its wait function at import

import json  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402

import jwt  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from flask import Flask, Response, request  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from app.db import Queries  # noqa: E402

SQL = Queries(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql"))
SECRET, BACKEND = os.environ["JWT_SECRET"], os.environ["RELAY_BACKEND_URL"]
MESSAGE = "gts.hyperspot.chat_engine.entities.message.v1~"
SESSION = "gts.hyperspot.chat_engine.entities.session.v1~"
pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=2, max_size=int(os.environ.get("DB_POOL_MAX_SIZE", "10")),
                      kwargs={"autocommit": True})
with pool.connection() as schema_conn, schema_conn.transaction():
    # Every worker runs this at start: two concurrent CREATE TABLE IF NOT EXISTS can still collide.
    schema_conn.execute("SELECT pg_advisory_xact_lock(4242099)")
    SQL.relay_schema(schema_conn)
backend = requests.Session()
# Room for every stream a worker runs at once: a connection returned to a full pool is closed.
backend.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=256))
app = Flask(__name__)


def line(event):
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def start(session_id, client_id, content, user_id, reply_id):
    # The placement reads the newest message before the session lock is granted, so two concurrent
    # sends to one session can collide on the same parent: the loser retries.
    for attempt in range(3):
        try:
            with pool.connection() as conn, conn.transaction():
                return SQL.relay_start(conn, session_id=session_id, client_id=client_id,
                                       content=Jsonb([{"type": "text", "text": content}]),
                                       user_id=user_id, reply_id=reply_id)
        except psycopg.errors.UniqueViolation:
            if attempt == 2:
                raise


def history(session_id, path):
    """The webhook history items of a path read leaf first (the engine's shape), root first."""
    return [{"message_id": f"{MESSAGE}{m_id}", "session_id": f"{SESSION}{session_id}", "role": role,
             "content": content, "parent_message_id": f"{MESSAGE}{parent}" if parent else None,
             "metadata": metadata, "file_ids": [str(f) for f in file_ids],
             "created_at": created.isoformat().replace("+00:00", "Z")}
            for m_id, parent, role, content, metadata, file_ids, created, _ in reversed(path)
            if m_id is not None and content != []]


@app.post("/api/v1/messages/send")
def send():
    try:
        client_id = jwt.decode(request.headers.get("Authorization", "")[7:], SECRET, algorithms=["HS256"])["sub"]
        body = request.get_json()
        session_id, content = uuid.UUID(body["session_id"].split("~")[-1]), str(body["content"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as error:
        return {"error": type(error).__name__}, 400 if not isinstance(error, jwt.PyJWTError) else 401
    user_id, reply_id = uuid.uuid4(), uuid.uuid4()
    rows = start(session_id, client_id, content, user_id, reply_id)
    if not rows:
        return {"error": "session not found"}, 404
    upstream = backend.post(BACKEND, stream=True, timeout=30, json={
        "event": "message.new", "session_id": str(session_id), "message_id": f"{MESSAGE}{reply_id}",
        "session_metadata": {}, "enabled_capabilities": [], "message": {"role": "user", "content": content},
        "history": history(session_id, rows)})

    def relay():
        public_id, text, metadata = f"{MESSAGE}{reply_id}", [], {}
        with upstream:
            yield line({"type": "start", "message_id": public_id})
            for raw in upstream.iter_lines():
                event = json.loads(raw) if raw else {}
                if event.get("type") == "chunk":
                    text.append(event["chunk"].get("content", ""))
                    yield line({"type": "chunk", "message_id": public_id, "chunk": event["chunk"]})
                elif event.get("type") == "complete":
                    metadata = event.get("metadata") or {}
        with pool.connection() as conn:
            SQL.relay_finish(conn, reply_id=reply_id, session_id=session_id, metadata=Jsonb(metadata),
                             content=Jsonb([{"type": "text", "text": "".join(text)}]))
        yield line({"type": "complete", "message_id": public_id, "metadata": metadata})

    return Response(relay(), mimetype="application/x-ndjson",
                    headers={"X-Assistant-Message-Id": f"{MESSAGE}{reply_id}"})

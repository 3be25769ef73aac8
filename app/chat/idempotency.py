"""Idempotency-Key on POST /sessions, /messages/send and /messages/{id}/recreate.

A key is scoped to the caller (the JWT's client id) and kept IDEMPOTENCY_TTL_SECONDS (24 h). It is
stored in the same transaction as the work it stands for, so the key and its effect commit together
or not at all, on any instance. Same key, same request: the earlier result (for a stream, `check`
raises Replayed, and the streaming layer joins the reply: live if it still streams, else a replay).
Same key, different request: 409.
Concurrent duplicates serialize on the session's row lock (send, recreate) or, for session creation,
on the key's primary key: the loser re-reads the winner's result.
"""
import hashlib
import json

from psycopg.types.json import Jsonb

from app import ids
from app.db import queries as q
from app.errors import conflict

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class Replayed(Exception):
    """This request was made before with the same key: its reply is `message_id`."""

    def __init__(self, message_id, headers):
        super().__init__("an Idempotency-Key seen before")
        self.message_id = message_id
        self.headers = headers


def body_hash(operation, body):
    canonical = json.dumps({"operation": operation, "body": body}, sort_keys=True, default=str,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


class Claim:
    """One request's key: `check` inside the transaction (after the session lock), `record` at its end."""

    def __init__(self, client_id, key, operation, body, ttl_seconds):
        self.client_id = client_id
        self.key = key
        self.operation = operation
        self.hash = body_hash(operation, body)
        self.ttl_seconds = ttl_seconds

    def earlier(self, conn):
        """The earlier request with this key, or None; 409 when it was a different request."""
        row = q.get_idempotency_key(conn, client_id=self.client_id, key=self.key)
        if row is None:
            return None
        if row["operation"] != self.operation.split(" ")[0] or bytes(row["body_hash"]) != self.hash:
            raise conflict("this Idempotency-Key was used for a different request", reason="idempotency_key_reused",
                           field=HEADER)
        return row

    def check(self, conn):
        """For a stream: raises Replayed when this request was made before."""
        row = self.earlier(conn)
        if row is None:
            return
        headers = {REPLAYED_HEADER: "true"}
        if row["user_message_id"]:
            headers["X-User-Message-Id"] = ids.message_gts(row["user_message_id"])
        raise Replayed(row["message_id"], headers)

    def record(self, conn, session_id=None, message_id=None, user_message_id=None, response=None):
        q.insert_idempotency_key(conn, client_id=self.client_id, key=self.key,
                                 operation=self.operation.split(" ")[0], body_hash=self.hash,
                                 session_id=session_id, message_id=message_id, user_message_id=user_message_id,
                                 response=Jsonb(response) if response is not None else None,
                                 ttl_seconds=self.ttl_seconds)

"""Idempotency-Key on POST /sessions, /messages/send and /messages/{id}/recreate (issue 12 §3).

A key is scoped to the caller (the JWT's client id) and kept IDEMPOTENCY_TTL_SECONDS (24 h). It is
stored in the same transaction as the work it stands for, so the key and its effect commit together
or not at all, on any instance. Same key, same request: the earlier result (for a stream, a join of
the reply: live if it still streams, else a replay). Same key, different request: 409.
Concurrent duplicates serialize on the session's row lock (send, recreate) or, for session creation,
on the key's primary key: the loser re-reads the winner's result.
"""
import hashlib
import json

from psycopg.types.json import Jsonb

from app import ids
from app.db import queries as q
from app.errors import conflict
from app.rejoin import Rejoin

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def body_hash(operation, body):
    canonical = json.dumps({"operation": operation, "body": body}, sort_keys=True, default=str,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


class Claim:
    """One request's key: `check` inside the transaction (after the session lock), `record` at its end."""

    def __init__(self, db, signals, client_id, key, operation, body, ttl_seconds):
        self.db = db
        self.signals = signals
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

    def check(self, conn, session_id=None):
        """For a stream: a Rejoin of the earlier reply (replayed or joined live), or None."""
        row = self.earlier(conn)
        if row is None:
            return None
        headers = {REPLAYED_HEADER: "true"}
        if row["user_message_id"]:
            headers["X-User-Message-Id"] = ids.message_gts(row["user_message_id"])
        return Rejoin(self.db, self.signals, row["message_id"], 0, headers)

    def record(self, conn, session_id=None, message_id=None, user_message_id=None, response=None):
        q.insert_idempotency_key(conn, client_id=self.client_id, key=self.key,
                                 operation=self.operation.split(" ")[0], body_hash=self.hash,
                                 session_id=session_id, message_id=message_id, user_message_id=user_message_id,
                                 response=Jsonb(response) if response is not None else None,
                                 ttl_seconds=self.ttl_seconds)

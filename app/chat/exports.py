"""Exports: rendered once, stored in PostgreSQL (any instance serves them), fetched by signed URL."""
import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime, timedelta

from app.chat.transcripts import RENDERERS
from app.db import queries as q
from app.errors import not_configured, not_found, session_not_found


def _signature(key, export_id, expires):
    return hmac.new(key, f"{export_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def create(db, config, caller, session_id, export_format, scope):
    key = config.url_signing_key
    if key is None:
        raise not_configured("exports need SIGNING_KEY (or JWT_SECRET) to sign links")
    render, content_type, _ = RENDERERS[export_format]
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=config.export_ttl_seconds)
    with db.transaction() as conn:
        q.set_statement_timeout(conn, timeout_ms=config.export_statement_timeout_ms)
        session = q.get_session(conn, id=session_id, client_id=caller.client_id)
        if session is None:
            raise session_not_found(session_id)
        rows = q.session_tree(conn, session_id=session_id)
        body = render(session, rows, scope).encode()
        row = q.insert_export(conn, id=uuid.uuid4(), session_id=session_id, format=export_format,
                              scope=scope, content_type=content_type, body=body, expires_at=expires_at)
    expires = int(row["expires_at"].timestamp())
    url = (f"{config.public_base_url}/api/v1/exports/{row['id']}"
           f"?expires={expires}&signature={_signature(key, row['id'], expires)}")
    return url, row["expires_at"]


def fetch(db, config, export_id, expires, signature):
    """The stored file, if the link's signature is good and it has not expired; else 404. `expires` and
    `signature` arrive validated as ASCII (schemas.ExportDownload); compared as bytes all the same."""
    key = config.url_signing_key
    gone = not_found("export not found or link expired")
    if key is None or not expires.isascii() or not expires.isdecimal() or int(expires) < time.time():
        raise gone
    expected = _signature(key, export_id, int(expires)).encode()
    if not hmac.compare_digest(expected, (signature or "").encode("utf-8", "replace")):
        raise gone
    with db.transaction() as conn:
        q.set_statement_timeout(conn, timeout_ms=config.export_statement_timeout_ms)
        row = q.get_export(conn, id=export_id)
    if row is None:
        raise gone
    extension = RENDERERS[row["format"]][2]
    return row, f"session-{row['session_id']}.{extension}"

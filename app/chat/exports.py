"""Exports: rendered once, stored in PostgreSQL (any instance serves them), fetched by signed URL."""
import hashlib
import hmac
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

from app.chat.transcripts import RENDERERS
from app.db import queries as q
from app.errors import not_configured, not_found, rate_limited, session_not_found, too_large


def _signature(key, export_id, expires):
    return hmac.new(key, f"{export_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def create(db, config, caller, session_id, export_format, scope):
    """(download_url, expires_at). An export of a session that has not changed since a live export of the
    same format and scope was built is that export again, its life extended: nothing is
    rendered or stored. A new one must fit the caps: at most EXPORT_MAX_BYTES itself (413), and the
    client's live exports at most EXPORT_MAX_PER_CLIENT and EXPORT_MAX_BYTES_PER_CLIENT (429)."""
    key = config.url_signing_key
    if key is None:
        raise not_configured("exports need SIGNING_KEY (or JWT_SECRET) to sign links")
    render, content_type, _ = RENDERERS[export_format]
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=config.export_ttl_seconds)
    row, session, version = _reuse_or_check_caps(db, config, caller, session_id, export_format, scope, expires_at)
    if row is None:
        # The heavy read, on a replica when one has replayed past what the check above saw (so the body is
        # never older than the version it records); no lock is held meanwhile.
        with db.read(after=db.write_position() if db.replicas is not None else None) as conn:
            q.set_statement_timeout(conn, timeout_ms=config.export_statement_timeout_ms)
            tree = q.session_tree(conn, session_id=session_id)
        body = render(session, tree, scope).encode()
        if config.export_max_bytes and len(body) > config.export_max_bytes:
            raise _too_large(len(body), config.export_max_bytes)  # nothing stored
        row = _store(db, config, caller, session_id, export_format, scope, expires_at, content_type, body, version)
    expires = int(row["expires_at"].timestamp())
    url = (f"{config.public_base_url}/api/v1/exports/{row['id']}"
           f"?expires={expires}&signature={_signature(key, row['id'], expires)}")
    return url, row["expires_at"]


def _reuse_or_check_caps(db, config, caller, session_id, export_format, scope, expires_at):
    """(reused export row or None, session, version): an unchanged session's live export again, else the caps
    checked before the work of rendering."""
    with db.transaction() as conn:
        q.set_statement_timeout(conn, timeout_ms=config.export_statement_timeout_ms)
        # One client's checks and stores serialize, so two exports at once cannot pass the caps together (the
        # store checks them again with the body's size).
        q.lock_client_exports(conn, client_id=caller.client_id)
        version, session = _source(conn, caller, session_id)
        row = q.reuse_export(conn, session_id=session_id, format=export_format, scope=scope,
                             source_version=version, expires_at=expires_at)
        if row is None:
            _check_client_caps(config, q.client_export_usage(conn, client_id=caller.client_id))
        return row, session, version


def _store(db, config, caller, session_id, export_format, scope, expires_at, content_type, body, version):
    """The rendered body stored under `version`, the one read before the body (which may show more, never
    less), under the client's lock again: an export of that version another request finished meanwhile is
    reused instead (two identical exports at once may both render; one is kept), and the caps are checked
    with the body's size."""
    with db.transaction() as conn:
        q.set_statement_timeout(conn, timeout_ms=config.export_statement_timeout_ms)
        q.lock_client_exports(conn, client_id=caller.client_id)
        _source(conn, caller, session_id)  # 404 if the session went meanwhile
        row = q.reuse_export(conn, session_id=session_id, format=export_format, scope=scope,
                             source_version=version, expires_at=expires_at)
        if row is not None:
            return row
        _check_client_caps(config, q.client_export_usage(conn, client_id=caller.client_id), len(body))
        return q.insert_export(conn, id=uuid.uuid4(), session_id=session_id, client_id=caller.client_id,
                               format=export_format, scope=scope, content_type=content_type, body=body,
                               size_bytes=len(body), source_version=version, expires_at=expires_at)


def _source(conn, caller, session_id):
    """(version, session), else 404. The version is read first: what is read after it is never older."""
    version = q.export_source_version(conn, session_id=session_id, client_id=caller.client_id)
    session = q.get_session(conn, id=session_id, client_id=caller.client_id)
    if version is None or session is None:
        raise session_not_found(session_id)
    return version, session


def _too_large(size, limit, setting="EXPORT_MAX_BYTES"):
    return too_large(f"the export would be {size} bytes, more than the {limit} allowed ({setting})")


def _check_client_caps(config, usage, adding=None):
    """429 when one more export would take the client past its caps on live exports: checked before
    rendering (`adding` None: the count, and bytes already at the cap) and after (`adding`: its size).
    Exports leave only by expiring, so the wait is until the client's first live one expires."""
    max_count, max_bytes = config.export_max_per_client, config.export_max_bytes_per_client
    if max_bytes and adding is not None and adding > max_bytes:
        raise _too_large(adding, max_bytes, "EXPORT_MAX_BYTES_PER_CLIENT")  # waiting would not help
    if adding is None and max_count and usage["live"] >= max_count:
        message = f"this client has {usage['live']} live exports, the most allowed (EXPORT_MAX_PER_CLIENT)"
    elif max_bytes and (usage["bytes"] >= max_bytes if adding is None else usage["bytes"] + adding > max_bytes):
        message = f"this client's live exports would exceed {max_bytes} bytes (EXPORT_MAX_BYTES_PER_CLIENT)"
    else:
        return
    now = datetime.now(UTC)
    reset = usage["first_expiry"] or now
    retry_after = max(1, math.ceil((reset - now).total_seconds()))
    raise rate_limited(message + "; retry when an earlier one expires", retry_after,
                       quota_reset_at=reset.isoformat())


def _stored_export(conn, config, export_id):
    q.set_statement_timeout(conn, timeout_ms=config.export_statement_timeout_ms)
    return q.get_export(conn, id=export_id)


def purge_expired(db, limit=20, max_bytes=256 * 1024 * 1024):
    """One bounded batch of expired exports deleted (the sweep, every worker, every LEASE_SECONDS/2)."""
    with db.transaction() as conn:
        return q.delete_expired_exports(conn, limit=limit, max_bytes=max_bytes)


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
    with db.read() as conn:
        row = _stored_export(conn, config, export_id)
    if row is None and db.replicas is not None:
        # A link carries no read-after token: an export a replica has not replayed yet is asked of the primary.
        with db.transaction() as conn:
            row = _stored_export(conn, config, export_id)
    if row is None:
        raise gone
    extension = RENDERERS[row["format"]][2]
    return row, f"session-{row['session_id']}.{extension}"

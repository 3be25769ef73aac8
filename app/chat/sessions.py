"""Session lifecycle: create (asking the backend for capabilities), read, delete."""
import uuid

import psycopg
from psycopg.types.json import Jsonb

from app.chat import cursors, session_types
from app.chat.metadata_limits import check_metadata, refuse_engine_keys
from app.db import queries as q
from app.errors import invalid, session_not_found
from app.webhooks import events, outbox
from app.webhooks.errors import BackendError


def announce(webhooks, session_type, session_id, client_id):
    """Tell a backend about the session (`session.created`, retried) and return its capabilities."""
    answer = webhooks.call_json(session_types.target(session_type),
                                events.session_created(session_id, session_type["id"], client_id))
    capabilities = answer.get("available_capabilities") if isinstance(answer, dict) else None
    if not isinstance(capabilities, list) or not all(isinstance(c, dict) for c in capabilities):
        raise BackendError("backend's session.created answer has no available_capabilities list")
    return capabilities


def create_session(db, webhooks, caller, session_type_id, metadata=None, idempotency=None):
    """Returns (row, replayed): with an Idempotency-Key seen before, the earlier result (replayed=True)."""
    check_metadata(metadata or {})
    refuse_engine_keys(metadata or {})
    with db.transaction() as conn:
        earlier = idempotency.earlier(conn) if idempotency is not None else None
        if earlier is not None:
            return _replayed(conn, earlier), True
        session_type = q.get_session_type(conn, id=session_type_id)
    if session_type is None:
        raise invalid("unknown session type", field="session_type_id", code="unknown_session_type")
    session_id = uuid.uuid4()
    capabilities = announce(webhooks, session_type, session_id, caller.client_id)
    try:
        with db.transaction() as conn:
            row = q.insert_session(conn, id=session_id, client_id=caller.client_id,
                                   session_type_id=session_type_id, capabilities=Jsonb(capabilities),
                                   metadata=Jsonb(metadata or {}))
            if idempotency is not None:
                idempotency.record(conn, session_id=session_id, response=capabilities)
    except psycopg.errors.UniqueViolation:
        if idempotency is None:
            raise
        # A concurrent duplicate committed first (its backend call and ours both ran): its result wins.
        with db.transaction() as conn:
            return _replayed(conn, idempotency.earlier(conn)), True
    return row, False


def _replayed(conn, earlier):
    """The earlier creation's answer; whether the session accepts files is read now, as any read does."""
    return {"id": earlier["session_id"], "available_capabilities": earlier["response"],
            "accepts_files": q.session_accepts_files(conn, id=earlier["session_id"])}


def get_session(db, caller, session_id):
    with db.read() as conn:
        session = q.get_session(conn, id=session_id, client_id=caller.client_id)
    if session is None:
        raise session_not_found(session_id)
    return session


def delete_session(db, caller, session_id):
    """The backend is told `session.deleted` through the outbox, committed with the delete."""
    with db.transaction() as conn:
        deleted = q.delete_session(conn, id=session_id, client_id=caller.client_id)
        if deleted is None:
            raise session_not_found(session_id)
        outbox.enqueue(conn, deleted["session_type_id"], events.session_deleted(session_id))


def list_sessions(db, caller, limit, tag=None, cursor=None):
    """Newest first; returns (rows, next_cursor)."""
    after_created_at, after_id = cursors.decode("sessions", cursor) or (None, None)
    with db.read() as conn:
        rows = q.list_sessions(conn, client_id=caller.client_id, tag=tag, limit=limit + 1,
                               after_created_at=after_created_at, after_id=after_id)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode("sessions", rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return rows, next_cursor


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge recursively, null removes a key."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            # An object patches whatever was there; a non-object target counts as {} (RFC 7386 §2),
            # so nulls inside a new object are removed rather than stored.
            current = result.get(key)
            result[key] = merge_patch(current if isinstance(current, dict) else {}, value)
        else:
            result[key] = value
    return result


def update_metadata(db, caller, session_id, patch):
    with db.transaction() as conn:
        session = q.lock_session(conn, id=session_id, client_id=caller.client_id)
        if session is None:
            raise session_not_found(session_id)
        refuse_engine_keys(patch)
        metadata = merge_patch(session["metadata"], patch)
        check_metadata(metadata)  # the merged result: many small PATCHes cannot add up past the caps
        return q.update_session_metadata(conn, id=session_id, client_id=caller.client_id,
                                         metadata=Jsonb(metadata))


def switch_type(db, webhooks, caller, session_id, new_type_id):
    """The next message goes to the new backend with the full history. The new backend is told
    `session.created` for this session, and its answer replaces the capabilities."""
    with db.transaction() as conn:
        session = q.get_session(conn, id=session_id, client_id=caller.client_id)
        new_type = q.get_session_type(conn, id=new_type_id)
    if session is None:
        raise session_not_found(session_id)
    if new_type is None:
        raise invalid("unknown session type", field="new_session_type_id", code="unknown_session_type")
    capabilities = announce(webhooks, new_type, session_id, caller.client_id)
    with db.transaction() as conn:
        row = q.switch_session_type(conn, id=session_id, client_id=caller.client_id,
                                    session_type_id=new_type_id, capabilities=Jsonb(capabilities))
    if row is None:
        raise session_not_found(session_id)
    return row

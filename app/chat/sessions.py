"""Session lifecycle: create (asking the backend for capabilities), read, delete."""
import uuid

from psycopg.types.json import Jsonb

from app.chat import session_types
from app.db import fetch_one, queries as q
from app.errors import invalid, session_not_found
from app.webhooks import events
from app.webhooks.client import Target
from app.webhooks.errors import BackendError


def _capabilities_from(answer):
    capabilities = answer.get("available_capabilities") if isinstance(answer, dict) else None
    if not isinstance(capabilities, list) or not all(isinstance(c, dict) for c in capabilities):
        raise BackendError("backend's session.created answer has no available_capabilities list")
    return capabilities


def create_session(db, webhooks, caller, session_type_id, metadata=None):
    with db.transaction() as conn:
        session_type = fetch_one(conn, q.get_session_type, id=session_type_id)
    if session_type is None:
        raise invalid("unknown session type", field="session_type_id", code="unknown_session_type")
    session_id = uuid.uuid4()
    target = session_types.target(session_type)
    answer = webhooks.call_json(target, events.session_created(session_id, session_type_id, caller.client_id))
    capabilities = _capabilities_from(answer)
    with db.transaction() as conn:
        return fetch_one(conn, q.insert_session, id=session_id, client_id=caller.client_id,
                         session_type_id=session_type_id, capabilities=Jsonb(capabilities),
                         metadata=Jsonb(metadata or {}))


def get_session(db, caller, session_id):
    with db.transaction() as conn:
        session = fetch_one(conn, q.get_session, id=session_id, client_id=caller.client_id)
    if session is None:
        raise session_not_found(session_id)
    return session


def delete_session(db, webhooks, caller, session_id):
    with db.transaction() as conn:
        deleted = fetch_one(conn, q.delete_session, id=session_id, client_id=caller.client_id)
    if deleted is None:
        raise session_not_found(session_id)
    webhooks.notify(Target(deleted["session_type_id"], deleted["webhook_url"]), events.session_deleted(session_id))

"""Administration of session types: the backends sessions are routed to."""
import psycopg
from psycopg.types.json import Jsonb

from app import ids
from app.db import queries as q
from app.errors import conflict, invalid, not_found
from app.webhooks import events
from app.webhooks.client import STREAM_DEFAULTS, STREAM_SETTINGS, Target

EDITABLE = ("name", "description", "webhook_url", "timeout_seconds", "summarization_enabled",
            "summarization_url", "summarization_settings", *STREAM_SETTINGS)
DEFAULTS = {"description": "", "timeout_seconds": 30, "summarization_enabled": False,
            "summarization_url": None, "summarization_settings": {}, **STREAM_DEFAULTS}


def target(session_type):
    return Target.of(session_type["id"], session_type["webhook_url"], {**DEFAULTS, **session_type})


def _params(values):
    params = dict(values)
    params["summarization_settings"] = Jsonb(params.get("summarization_settings") or {})
    return params


def derived_id(name):
    """The id a session type gets from its name when none is given (version 1)."""
    candidate = ids.session_type_gts(name)
    if not ids.is_session_type_id(candidate):
        raise invalid("give session_type_id, or a name made of a-z, 0-9 and _", field="session_type_id")
    return candidate


def create(db, values):
    values = {**DEFAULTS, **values}
    if not values.get("session_type_id"):
        values["session_type_id"] = derived_id(values["name"])
    params = _params({"id": values.pop("session_type_id"), **{k: values[k] for k in EDITABLE}})
    try:
        with db.transaction() as conn:
            return q.insert_session_type(conn, **params)
    except psycopg.errors.UniqueViolation:
        raise conflict("a session type with this id exists") from None


def list_all(db):
    with db.transaction() as conn:
        return q.list_session_types(conn)


def get(db, session_type_id):
    with db.transaction() as conn:
        row = q.get_session_type(conn, id=session_type_id)
    if row is None:
        raise not_found("session type not found")
    return row


def update(db, session_type_id, changes):
    with db.transaction() as conn:
        current = q.get_session_type(conn, id=session_type_id)
        if current is None:
            raise not_found("session type not found")
        merged = {k: changes.get(k, current[k]) for k in EDITABLE}
        return q.update_session_type(conn, id=session_type_id, **_params(merged))


def delete(db, session_type_id):
    try:
        with db.transaction() as conn:
            deleted = q.delete_session_type(conn, id=session_type_id)
    except psycopg.errors.ForeignKeyViolation:
        raise conflict("session type is used by sessions") from None
    if deleted is None:
        raise not_found("session type not found")


def health_check(webhooks, session_type):
    """Ask the backend for its health (session_type.health_check, retried, through the breaker)."""
    return webhooks.call_json(target(session_type), events.health_check(session_type["id"]))

"""Administration of session types: the backends sessions are routed to."""
import psycopg
from psycopg.types.json import Jsonb

from app import ids, url_policy
from app.db import queries as q
from app.errors import conflict, invalid, not_found
from app.schemas.requests import CONVERSATION_DEFAULTS, CONVERSATION_SETTINGS, STREAM_DEFAULTS, STREAM_SETTINGS
from app.webhooks import events, signing
from app.webhooks.client import Target

EDITABLE = ("name", "description", "webhook_url", "timeout_seconds", "summarization_enabled",
            "summarization_url", "summarization_settings", "accepts_files", *STREAM_SETTINGS,
            *CONVERSATION_SETTINGS)
DEFAULTS = {"description": "", "timeout_seconds": 30, "summarization_enabled": False,
            "summarization_url": None, "summarization_settings": {}, "accepts_files": None, **STREAM_DEFAULTS,
            **CONVERSATION_DEFAULTS}


def target(session_type):
    return Target.of(session_type["id"], session_type["webhook_url"], {**DEFAULTS, **session_type})


def check_urls(values, allowed_networks):
    """Webhook and summarization URLs must point where WEBHOOK_ALLOWED_NETWORKS allows (400 otherwise)."""
    for field in ("webhook_url", "summarization_url"):
        if values.get(field):
            try:
                url_policy.check_registration(values[field], allowed_networks)
            except url_policy.UrlNotAllowed as exc:
                raise invalid(f"{field} is not allowed: {exc}", field=field, code="url_not_allowed") from None


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
    """The stored row carries `webhook_secret`: shown once, in the create response, never again."""
    values = {**DEFAULTS, **values}
    if not values.get("session_type_id"):
        values["session_type_id"] = derived_id(values["name"])
    params = _params({"id": values.pop("session_type_id"), **{k: values[k] for k in EDITABLE},
                      "webhook_secret": values.get("webhook_secret") or signing.new_secret()})
    try:
        with db.transaction() as conn:
            return q.insert_session_type(conn, **params)
    except psycopg.errors.UniqueViolation:
        raise conflict("a session type with this id exists") from None


def list_all(db):
    with db.transaction() as conn:
        return q.list_session_types(conn)


def catalogue(db):
    """Every session type as any authenticated client may see it: no webhook URL, no settings."""
    with db.transaction() as conn:
        return q.session_type_catalogue(conn)


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


def rotate_secret(db, session_type_id, secret=None):
    """A new signing secret (or the given one); requests are signed with it from the next call on."""
    with db.transaction() as conn:
        row = q.set_webhook_secret(conn, id=session_type_id, webhook_secret=secret or signing.new_secret())
    if row is None:
        raise not_found("session type not found")
    return row


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

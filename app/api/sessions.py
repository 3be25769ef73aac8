"""/api/v1/sessions: create, read, delete (SPEC §4)."""
from flask import Blueprint, g

from app import ids
from app.api.common import engine, load_body, session_id_from_path
from app.chat import sessions
from app.errors import invalid
from app.schemas import requests as schemas, responses

bp = Blueprint("sessions", __name__)


@bp.post("/sessions")
def create_session():
    body = load_body(schemas.SessionCreate())
    if "client_id" in body and body["client_id"] != g.caller.client_id:
        raise invalid("client_id does not match the authenticated client", field="client_id", code="mismatch")
    parts = engine()
    row = sessions.create_session(parts.db, parts.webhooks, g.caller, body["session_type_id"], body.get("metadata"))
    return {"session_id": ids.session_gts(row["id"]), "available_capabilities": row["available_capabilities"]}, 201


@bp.get("/sessions/<id>")
def get_session(id):
    return responses.session(sessions.get_session(engine().db, g.caller, session_id_from_path(id)))


@bp.delete("/sessions/<id>")
def delete_session(id):
    parts = engine()
    sessions.delete_session(parts.db, parts.webhooks, g.caller, session_id_from_path(id))
    return {"deleted": True}

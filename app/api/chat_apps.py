"""What chat apps build on besides send: the session-type catalogue, posting messages without a
backend call (system prompts, notes, imports), deleting a message with its subtree."""
from flask import Blueprint, g

from app.api.common import load_body, message_id_from_path, session_id_from_path
from app.chat import deletion, posting, session_types
from app.schemas import requests as schemas, responses
from app.services import current_services

bp = Blueprint("chat_apps", __name__)


@bp.get("/session-types")
def session_type_catalogue():
    """Any authenticated client: what each type is, never where its backend lives or its settings."""
    return responses.dump(responses.SessionTypeCatalogue,
                          {"session_types": session_types.catalogue(current_services().db)})


@bp.post("/sessions/<id>/messages")
def post_message(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.MessagePost)
    services = current_services()
    row = posting.post_message(services.db, g.caller, session_id, body["role"], body["content"],
                               parent_id=body.get("parent_message_id"), hidden_from_user=body["hidden_from_user"],
                               hidden_from_backend=body["hidden_from_backend"], metadata=body["metadata"],
                               max_siblings=services.config.max_siblings_per_parent)
    return responses.message(row), 201


@bp.delete("/messages/<id>")
def delete_message(id):
    deleted, activated = deletion.delete_message(current_services().db, g.caller, message_id_from_path(id))
    return responses.dump(responses.MessageDeleted, {"deleted": True, "deleted_message_ids": deleted,
                                                     "activated_message_id": activated})

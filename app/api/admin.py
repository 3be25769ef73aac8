"""/api/v1/admin/session-types: the admin role's registry of backends."""
from flask import Blueprint

from app.api.common import load_body, session_type_id_from_path
from app.auth import require_admin
from app.chat import session_types
from app.errors import backend_failed
from app.schemas import requests as schemas, responses
from app.services import current_services
from app.webhooks import signing
from app.webhooks.errors import BackendFailure

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_admin)


@bp.post("/session-types")
def create_session_type():
    body = load_body(schemas.SessionTypeCreate)
    probe = body.pop("health_check")
    services = current_services()
    session_types.check_urls(body, services.config.webhook_allowed_networks)
    # Generated before the probe, so the health check is signed with the secret the backend will get.
    body["webhook_secret"] = signing.new_secret()
    if probe:
        # Probed under the id it will be stored with, so the probe counts against its own breaker.
        body.setdefault("session_type_id", session_types.derived_id(body["name"]))
        candidate = {"id": body["session_type_id"], "webhook_url": body["webhook_url"],
                     "timeout_seconds": body.get("timeout_seconds", session_types.DEFAULTS["timeout_seconds"]),
                     "webhook_secret": body["webhook_secret"]}
        try:
            session_types.health_check(services.webhooks, candidate)
        except BackendFailure as exc:
            raise backend_failed(exc, f"health check failed: {exc}") from None
    row = session_types.create(services.db, body)
    # The only time the secret is shown (besides a rotation): the backend's operator stores it now.
    return responses.dump(responses.SessionTypeCreated, row), 201


@bp.get("/session-types")
def list_session_types():
    return responses.dump(responses.SessionTypeList, {"session_types": session_types.list_all(current_services().db)})


@bp.get("/session-types/<id>")
def get_session_type(id):
    return responses.dump(responses.SessionType, session_types.get(current_services().db,
                                                                    session_type_id_from_path(id)))


@bp.patch("/session-types/<id>")
def update_session_type(id):
    changes = load_body(schemas.SessionTypeUpdate)
    session_types.check_urls(changes, current_services().config.webhook_allowed_networks)
    return responses.dump(responses.SessionType, session_types.update(current_services().db,
                                                                       session_type_id_from_path(id), changes))


@bp.delete("/session-types/<id>")
def delete_session_type(id):
    session_types.delete(current_services().db, session_type_id_from_path(id))
    return responses.dump(responses.Deleted, {"deleted": True})


@bp.post("/session-types/<id>/webhook-secret")
def rotate_webhook_secret(id):
    """A new signing secret, shown once; the old one stops working at once (update the backend first
    to accept both, see the README)."""
    row = session_types.rotate_secret(current_services().db, session_type_id_from_path(id))
    return responses.dump(responses.WebhookSecret, row)

"""/api/v1/sessions: create, list, read, update, switch type, delete, fork, summarize, export, share, search."""
from flask import Blueprint, g

from app.api import idempotent
from app.api.common import expensive_read, load_body, load_query, path_id, session_id_from_path
from app.api.streams import stream_response
from app.chat import exchanges, exports, forks, search, sessions, shares
from app.chat.idempotency import REPLAYED_HEADER
from app.errors import invalid
from app.schemas import requests as schemas, responses
from app.services import current_services

bp = Blueprint("sessions", __name__)


@bp.post("/sessions")
def create_session():
    body = load_body(schemas.SessionCreate)
    if "client_id" in body and body["client_id"] != g.caller.client_id:
        raise invalid("client_id does not match the authenticated client", field="client_id", code="mismatch")
    services = current_services()
    row, replayed = sessions.create_session(services.db, services.webhooks, g.caller, body["session_type_id"],
                                            body.get("metadata"),
                                            idempotency=idempotent.claim(services, g.caller, "create", body))
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return responses.dump(responses.SessionCreated, row), 201, headers


@bp.get("/sessions")
def list_sessions():
    query = load_query(schemas.SessionListQuery)
    rows, next_cursor = sessions.list_sessions(current_services().db, g.caller, query["limit"], query.get("tag"),
                                               query.get("cursor"))
    return responses.dump(responses.SessionList, {"sessions": rows, "next_cursor": next_cursor})


@bp.get("/sessions/<id>")
def get_session(id):
    return responses.dump(responses.Session, sessions.get_session(current_services().db, g.caller,
                                                                  session_id_from_path(id)))


@bp.patch("/sessions/<id>")
def update_session(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.SessionUpdate)
    patch = dict(body.get("metadata") or {})
    for shortcut in ("title", "tags"):
        if shortcut in body:
            patch[shortcut] = body[shortcut]
    return responses.dump(responses.Session, sessions.update_metadata(current_services().db, g.caller, session_id,
                                                                      patch))


@bp.patch("/sessions/<id>/type")
def switch_session_type(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.SessionSwitchType)
    services = current_services()
    row = sessions.switch_type(services.db, services.webhooks, g.caller, session_id, body["new_session_type_id"])
    return responses.dump(responses.SwitchedType, row)


@bp.delete("/sessions/<id>")
def delete_session(id):
    services = current_services()
    sessions.delete_session(services.db, g.caller, session_id_from_path(id))
    return responses.dump(responses.Deleted, {"deleted": True})


@bp.post("/sessions/<id>/fork")
def fork_session(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.SessionFork, required=False)
    services = current_services()
    row = forks.fork_session(services.db, services.webhooks, g.caller, session_id, body.get("message_id"),
                             body.get("title"))
    return responses.dump(responses.Session, row), 201


@bp.post("/sessions/<id>/summarize")
def summarize_session(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.CapabilitiesOnly, required=False)
    services = current_services()
    return stream_response(lambda: exchanges.start_summary(services.db, services.webhooks, g.caller, session_id,
                                                           enabled=body.get("enabled_capabilities")))


@bp.post("/sessions/<id>/export")
@expensive_read
def export_session(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.SessionExport)
    services = current_services()
    url, expires_at = exports.create(services.db, services.config, g.caller, session_id, body["format"], body["scope"])
    return responses.dump(responses.ExportReady, {"download_url": url, "expires_at": expires_at})


@bp.post("/sessions/<id>/share")
def share_session(id):
    session_id = session_id_from_path(id)
    body = load_body(schemas.ShareCreate, required=False)
    services = current_services()
    token, row = shares.create(services.db, g.caller, session_id, body.get("expires_at"))
    url = f"{services.config.public_base_url}/api/v1/share/{token}"
    return responses.dump(responses.ShareCreated, {**row, "share_token": token, "share_url": url}), 201


@bp.get("/sessions/<id>/shares")
def list_shares(id):
    rows = shares.list_for(current_services().db, g.caller, session_id_from_path(id))
    return responses.dump(responses.ShareList, {"shares": rows})


@bp.delete("/sessions/<id>/shares/<share_id>")
def revoke_share(id, share_id):
    session_id = session_id_from_path(id)
    shares.revoke(current_services().db, g.caller, session_id, path_id("share", share_id, field="share_id"))
    return responses.dump(responses.Revoked, {"revoked": True})


@bp.get("/sessions/<id>/search")
@expensive_read
def search_session(id):
    session_id = session_id_from_path(id)
    query = load_query(schemas.SearchQuery)
    services = current_services()
    rows, total, next_cursor = search.in_session(services.db, g.caller, session_id, query["query"], query["limit"],
                                                 query["offset"], query.get("cursor"),
                                                 timeout_ms=services.config.search_statement_timeout_ms)
    return responses.dump(responses.SearchResults, {"results": rows, "total": total, "limit": query["limit"],
                                                    "offset": query["offset"], "next_cursor": next_cursor})

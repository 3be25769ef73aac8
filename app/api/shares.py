"""/api/v1/share/{token}: the read-only view (public), and a recipient's own branch and fork (authenticated)."""
from flask import Blueprint, g

from app.api.common import expensive_read, load_body, load_query
from app.api.streams import stream_response
from app.chat import exchanges, forks, shares
from app.schemas import requests as schemas, responses
from app.services import current_services

bp = Blueprint("shares", __name__)


def _view(token, recipient=None):
    page = load_query(schemas.PageQuery)
    session, rows, next_cursor = shares.open_shared(current_services().db, token, recipient, page["limit"],
                                                    page.get("cursor"))
    return responses.dump(responses.SharedSession, {**session, "messages": rows, "next_cursor": next_cursor})


@bp.get("/share/<token>")
@expensive_read
def view_shared(token):
    """Public: anyone holding the token sees the title and the owner's active path (hidden messages excluded)."""
    return _view(token)


@bp.get("/share/<token>/messages")
@expensive_read
def recipient_messages(token):
    """The authenticated recipient's view: the owner's path continued by the recipient's own branch."""
    return _view(token, recipient=g.caller.client_id)


@bp.post("/share/<token>/messages")
def send_as_recipient(token):
    body = load_body(schemas.SharedSend)
    services = current_services()
    return stream_response(lambda: exchanges.start_shared_send(
        services.db, services.webhooks, g.caller, token, body["content"], file_ids=body.get("file_ids") or (),
        enabled=body.get("enabled_capabilities")))


@bp.post("/share/<token>/fork")
def fork_as_recipient(token):
    """A session of the recipient's own, continuing what the share shows them."""
    body = load_body(schemas.SessionFork, required=False)
    services = current_services()
    row = forks.fork_shared(services.db, services.webhooks, g.caller, token, body.get("message_id"), body.get("title"))
    return responses.dump(responses.Session, row), 201

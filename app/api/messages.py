"""/api/v1/messages and a session's messages: send and recreate (streaming), read, navigate."""
from flask import Blueprint, g

from app.api import idempotent
from app.api.common import expensive_read, load_body, load_query, message_id_from_path, session_id_from_path
from app.api.streams import rejoin_response, stream_response
from app.chat import exchanges, messages, reactions
from app.errors import invalid
from app.schemas import requests as schemas, responses
from app.services import current_services
from app.streams import live
from app.streams.rejoin import offset_expired

bp = Blueprint("messages", __name__)


@bp.post("/messages/send")
def send_message():
    body = load_body(schemas.MessageSend)
    services = current_services()
    options = exchanges.Options(resumable=body["resumable"], if_busy=body["if_busy"],
                                idempotency=idempotent.claim(services, g.caller, "send", body))
    return stream_response(lambda: exchanges.start_send(
        services.db, services.webhooks, g.caller, body["session_id"], body["content"],
        parent_id=body.get("parent_message_id"), file_ids=body.get("file_ids") or (),
        enabled=body.get("enabled_capabilities"), edited_id=body.get("edited_message_id"), options=options),
        options)


@bp.post("/messages/<id>/recreate")
def recreate_message(id):
    message_id = message_id_from_path(id)
    body = load_body(schemas.MessageRecreate, required=False)
    services = current_services()
    options = exchanges.Options(resumable=body.get("resumable", False), if_busy="parallel",
                                idempotency=idempotent.claim(services, g.caller, f"recreate {message_id}", body))
    return stream_response(lambda: exchanges.start_recreate(
        services.db, services.webhooks, g.caller, message_id, enabled=body.get("enabled_capabilities"),
        options=options), options)


@bp.get("/messages/<id>/stream")
def rejoin_reply(id):
    message_id = message_id_from_path(id)
    query = load_query(schemas.StreamRejoinQuery)
    services = current_services()
    messages.get_reply(services.db, g.caller, message_id)  # 404 unless it is the caller's reply
    if offset_expired(services.db, message_id, query["offset"], services.config.chunk_log):
        raise invalid(f"the reply's chunk log has expired ({services.config.chunk_log_grace_seconds:g} s after its "
                      "end): read the stored message (GET /messages/{id}) or rejoin from offset 0",
                      field="offset", code="chunk_log_expired")
    return rejoin_response(message_id, query["offset"])


@bp.post("/messages/<id>/stop")
def stop_reply(id):
    message_id = message_id_from_path(id)
    services = current_services()
    stopped = live.stop(services.db, services.signals, g.caller, message_id,
                        services.config.stop_wait_seconds)
    row = messages.get_message(services.db, g.caller, message_id)
    summaries = reactions.summaries(services.db, g.caller, [row["id"]])
    return responses.dump(responses.StopResult, {"stopped": stopped, "message": responses.reacted(row, summaries)})


@bp.get("/sessions/<id>/messages")
@expensive_read
def list_messages(id):
    session_id = session_id_from_path(id)
    query = load_query(schemas.MessageListQuery)
    services = current_services()
    db = services.db
    rows, next_cursor = messages.list_messages(db, g.caller, session_id, parent_id=query.get("parent_message_id"),
                                               children="parent_message_id" in query, limit=query["limit"],
                                               cursor=query.get("cursor"),
                                               max_bytes=services.config.sibling_page_max_bytes)
    summary = reactions.summaries(db, g.caller, [r["id"] for r in rows])
    return responses.dump(responses.MessageList, {"messages": [responses.reacted(r, summary) for r in rows],
                                                  "next_cursor": next_cursor})


@bp.get("/messages/<id>")
def get_message(id):
    db = current_services().db
    row = messages.get_message(db, g.caller, message_id_from_path(id))
    return responses.message(row, reactions.summaries(db, g.caller, [row["id"]]))


@bp.post("/messages/<id>/reaction")
def react_to_message(id):
    message_id = message_id_from_path(id)
    body = load_body(schemas.Reaction)
    services = current_services()
    applied, reaction_type = reactions.react(services.db, g.caller, message_id, body["reaction_type"],
                                             comment=body.get("comment"), reasons=body.get("reasons") or ())
    return responses.dump(responses.ReactionResult,
                          {"message_id": message_id, "reaction_type": reaction_type, "applied": applied})


@bp.get("/messages/<id>/variants")
@expensive_read
def message_variants(id):
    message_id = message_id_from_path(id)
    query = load_query(schemas.VariantsQuery)
    services = current_services()
    siblings, current, next_cursor = messages.variants(services.db, g.caller, message_id, limit=query["limit"],
                                                       cursor=query.get("cursor"),
                                                       max_bytes=services.config.sibling_page_max_bytes)
    return responses.dump(responses.Variants,
                          {"variants": siblings, "current_index": current, "next_cursor": next_cursor})


@bp.post("/messages/<id>/activate")
def activate_message(id):
    return responses.message(messages.activate(current_services().db, g.caller, message_id_from_path(id)))

"""Payloads the engine sends, shaped as reference/schemas/webhook/*Event.json."""
from datetime import UTC, datetime

from app import ids


def now_iso():
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def session_created(session_id, session_type_id, client_id):
    return {"event": "session.created", "session_id": ids.session_gts(session_id),
            "session_type_id": session_type_id, "client_id": client_id, "timestamp": now_iso()}


def session_deleted(session_id):
    return {"event": "session.deleted", "session_id": ids.session_gts(session_id), "timestamp": now_iso()}


def health_check(session_type_id):
    return {"event": "session_type.health_check", "session_type_id": session_type_id, "timestamp": now_iso()}


def message_new(session_id, message_id, session_metadata, capabilities, content, file_ids, history):
    message = {"role": "user", "content": content}
    if file_ids:
        message["file_ids"] = [str(f) for f in file_ids]
    return {"event": "message.new", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "session_metadata": session_metadata,
            "enabled_capabilities": capabilities, "message": message, "history": history,
            "timestamp": now_iso()}


def message_recreate(session_id, message_id, capabilities, history):
    return {"event": "message.recreate", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "enabled_capabilities": capabilities,
            "history": history, "timestamp": now_iso()}


def session_summary(session_id, capabilities, history, settings):
    return {"event": "session.summary", "session_id": ids.session_gts(session_id),
            "enabled_capabilities": capabilities, "history": history,
            "summarization_settings": settings or None, "timestamp": now_iso()}


def message_aborted(session_id, message_id, partial_content):
    return {"event": "message.aborted", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "partial_content": partial_content,
            "timestamp": now_iso()}


def message_reaction(session_id, message_id, user_id, reaction_type, previous):
    return {"event": "message.reaction", "session_id": ids.session_gts(session_id),
            "message_id": ids.message_gts(message_id), "user_id": user_id, "reaction_type": reaction_type,
            "previous_reaction_type": previous, "timestamp": now_iso()}


def history_item(row):
    """A stored message as the webhook's Message schema (content parts, GTS ids)."""
    item = {"message_id": ids.message_gts(row["id"]), "session_id": ids.session_gts(row["session_id"]),
            "role": row["role"], "content": row["content"],
            "parent_message_id": ids.message_gts(row["parent_id"]),
            "metadata": row["metadata"], "created_at": row["created_at"].isoformat()}
    if row["file_ids"]:
        item["file_ids"] = [str(f) for f in row["file_ids"]]
    return item


def history(path_rows):
    """The path sent to a backend: hidden-from-LLM messages and empty placeholders left out."""
    return [history_item(r) for r in path_rows if not r["is_hidden_from_llm"] and r["content"]]

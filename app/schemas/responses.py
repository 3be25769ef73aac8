"""Stored rows -> the contract's response shapes (GTS ids, content parts, variant info)."""
from app import ids
from app.webhooks.client import STREAM_SETTINGS


def _time(value):
    return value.isoformat() if value is not None else None


def session(row):
    return {"session_id": ids.session_gts(row["id"]), "client_id": row["client_id"],
            "session_type_id": row["session_type_id"], "available_capabilities": row["available_capabilities"],
            "accepts_files": row["accepts_files"], "metadata": row["metadata"],
            "created_at": _time(row["created_at"]), "updated_at": _time(row["updated_at"])}


def variant_info(row):
    return {"variant_index": row["variant_index"], "total_variants": row["total_variants"],
            "parent_message_id": str(row["parent_id"]) if row["parent_id"] else None}


def message(row, reactions=None):
    summary = (reactions or {}).get(row["id"])
    return {"message_id": ids.message_gts(row["id"]), "session_id": ids.session_gts(row["session_id"]),
            "parent_message_id": ids.message_gts(row["parent_id"]), "role": row["role"],
            "content": row["content"], "file_ids": [str(f) for f in row["file_ids"]],
            "variant_index": row["variant_index"], "is_active": row["is_active"],
            "is_complete": row["is_complete"], "metadata": row["metadata"],
            "hidden_from_user": row["is_hidden_from_user"], "hidden_from_backend": row["is_hidden_from_llm"],
            "created_at": _time(row["created_at"]), "variant_info": variant_info(row),
            "reactions": {"like": summary["likes"] if summary else 0,
                          "dislike": summary["dislikes"] if summary else 0},
            "my_reaction": summary["mine"] if summary else None}


def shared_message(row):
    """A message as a share link shows it: no metadata (it records the owner's session type and what the
    backend reported, e.g. usage) and no reactions (they are the owner's and other clients')."""
    return {**message(row), "metadata": {}, "reactions": {"like": 0, "dislike": 0}, "my_reaction": None}


def shared_session(session, rows, next_cursor):
    """The share view: the title and the shared messages only. The owner's metadata (summary,
    tags, anything stored there), the owner's client id and other recipients' branches never appear."""
    title = (session["metadata"] or {}).get("title")
    return {"session_id": ids.session_gts(session["id"]), "read_only": True,
            "title": title if isinstance(title, str) else None,
            "messages": [shared_message(r) for r in rows], "next_cursor": next_cursor}


def variant(row):
    return {"message_id": ids.message_gts(row["id"]), "variant_index": row["variant_index"],
            "content": row["content"], "is_active": row["is_active"], "is_complete": row["is_complete"],
            "created_at": _time(row["created_at"])}


def session_type(row):
    return {"session_type_id": row["id"], "name": row["name"], "description": row["description"],
            "webhook_url": row["webhook_url"], "timeout_seconds": row["timeout_seconds"],
            "summarization_enabled": row["summarization_enabled"],
            "summarization_url": row["summarization_url"],
            "summarization_settings": row["summarization_settings"], "accepts_files": row["accepts_files"],
            **{name: row[name] for name in STREAM_SETTINGS},
            "created_at": _time(row["created_at"]), "updated_at": _time(row["updated_at"])}


def session_type_summary(row):
    """A session type as a client picks it: what it is, never where it is or how it is configured."""
    return {"session_type_id": row["id"], "name": row["name"], "description": row["description"],
            "summarization_enabled": row["summarization_enabled"], "accepts_files": row["accepts_files"]}


def share(row, token=None, url=None):
    body = {"share_id": str(row["id"]), "created_at": _time(row["created_at"]),
            "expires_at": _time(row["expires_at"])}
    if token:
        body.update(share_token=token, share_url=url)
    else:
        body.update(revoked_at=_time(row["revoked_at"]), active=row["revoked_at"] is None)
    return body


def _text_of(content):
    """The searchable words of a message: its text and code parts (what search_vector indexes)."""
    return " ".join(p.get("text") or p.get("code") or "" for p in content if p.get("type") in ("text", "code"))


def search_hit(row):
    return {"message_id": ids.message_gts(row["id"]), "content": _text_of(row["content"]),
            "context": row["context"], "created_at": _time(row["created_at"]), "role": row["role"],
            "parent_message_id": ids.message_gts(row["parent_id"]), "variant_index": row["variant_index"],
            "is_active": row["is_active"], "rank": round(float(row["rank"]), 6),
            "on_active_path": row["on_active_path"], "variant_path": row["variant_path"]}

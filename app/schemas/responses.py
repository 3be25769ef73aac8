"""Stored rows -> the contract's response shapes (GTS ids, content parts, variant info)."""
from app import ids


def _time(value):
    return value.isoformat() if value is not None else None


def session(row):
    return {"session_id": ids.session_gts(row["id"]), "client_id": row["client_id"],
            "session_type_id": row["session_type_id"], "available_capabilities": row["available_capabilities"],
            "metadata": row["metadata"], "created_at": _time(row["created_at"]),
            "updated_at": _time(row["updated_at"])}


def variant_info(row):
    return {"variant_index": row["variant_index"], "total_variants": row["total_variants"],
            "parent_message_id": str(row["parent_id"]) if row["parent_id"] else None}


def message(row):
    return {"message_id": ids.message_gts(row["id"]), "session_id": ids.session_gts(row["session_id"]),
            "parent_message_id": ids.message_gts(row["parent_id"]), "role": row["role"],
            "content": row["content"], "file_ids": [str(f) for f in row["file_ids"]],
            "variant_index": row["variant_index"], "is_active": row["is_active"],
            "is_complete": row["is_complete"], "metadata": row["metadata"],
            "created_at": _time(row["created_at"]), "variant_info": variant_info(row)}


def variant(row):
    return {"message_id": ids.message_gts(row["id"]), "variant_index": row["variant_index"],
            "content": row["content"], "is_active": row["is_active"], "is_complete": row["is_complete"],
            "created_at": _time(row["created_at"])}


def session_type(row):
    return {"session_type_id": row["id"], "name": row["name"], "description": row["description"],
            "webhook_url": row["webhook_url"], "timeout_seconds": row["timeout_seconds"],
            "summarization_enabled": row["summarization_enabled"],
            "summarization_url": row["summarization_url"],
            "summarization_settings": row["summarization_settings"],
            "created_at": _time(row["created_at"]), "updated_at": _time(row["updated_at"])}

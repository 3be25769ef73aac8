"""Opaque keyset cursors for stable deep paging: base64 of the last row's sort key."""
import base64
import binascii
import json
import uuid
from datetime import datetime

from app.errors import invalid


def encode(rank, created_at, row_id):
    raw = json.dumps([rank, created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor, with_rank=True):
    """(rank, created_at, id), or Nones when there is no cursor; a malformed one is a 400."""
    if not cursor:
        return None, None, None
    try:
        rank, created_at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if with_rank and not isinstance(rank, (int, float)):
            raise ValueError
        return rank, datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid("not a valid cursor", field="cursor") from None

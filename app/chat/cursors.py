"""Opaque keyset cursors for stable deep paging: base64 of [listing, *the last row's sort key].

Cursors are not signed: every decoded field is validated (type, range, format) before it reaches a
query, and the listing name binds a cursor to the listing that issued it, so a tampered, truncated or
foreign cursor is a 400, never a database error. A cursor only narrows a query the caller is already
allowed to run (ownership is checked by the query itself), so forging one reveals nothing.

Share views need more: their walk starts below the message the cursor names, and below
a message that an edit took off the path lies an abandoned branch the share does not show. So a share
view's cursor also names its share (another share's cursor is a 400), and app/chat/shares.py checks
that the message is on what the share shows before it walks.
"""
import base64
import binascii
import json
import math
import uuid
from datetime import datetime

from app.errors import invalid

MAX_RANK = 1e30  # ts_rank_cd returns a real (float4); anything near its limit cannot come from us


def _rank(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError
    if not math.isfinite(value) or not 0 <= value <= MAX_RANK:
        raise ValueError
    return float(value)


def _time(value):
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError
    return parsed


def _uuid(value):
    if not isinstance(value, str) or len(value) != 36:
        raise ValueError
    parsed = uuid.UUID(value)
    if str(parsed) != value:
        raise ValueError
    return parsed


def _index(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError
    return value


# Each listing's sort key, in order. A cursor carries its listing's name first.
LISTINGS = {
    "sessions": (_time, _uuid),
    "session_search": (_rank, _time, _uuid),
    "search": (_rank, _time, _uuid),
    "messages": (_uuid,),
    "variants": (_index,),
    "shared_messages": (_uuid, _uuid),  # the share's id, then the page's last message
}
_DUMP = {_rank: float, _time: datetime.isoformat, _uuid: str, _index: int}


def encode(listing, *key):
    fields = LISTINGS[listing]
    raw = json.dumps([listing, *(_DUMP[parse](value) for parse, value in zip(fields, key, strict=True))])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(listing, cursor):
    """The sort key a cursor of `listing` carries, or None when there is no cursor; anything else is a 400."""
    if not cursor:
        return None
    fields = LISTINGS[listing]
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw, parse_constant=lambda name: None)
        if not isinstance(values, list) or len(values) != len(fields) + 1 or values[0] != listing:
            raise ValueError
        return tuple(parse(value) for parse, value in zip(fields, values[1:], strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid("not a valid cursor", field="cursor") from None

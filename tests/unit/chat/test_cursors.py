"""app/chat/cursors.py: opaque keyset cursors, every decoded field validated, bound to their listing."""
import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from app.chat import cursors
from app.errors import ApiError

WHEN = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
ROW = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def forged(value):
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode()


def test_round_trip_without_padding():
    cursor = cursors.encode("search", 0.75, WHEN, ROW)
    assert "=" not in cursor
    assert cursors.decode("search", cursor) == (0.75, WHEN, ROW)
    assert cursors.decode("sessions", cursors.encode("sessions", WHEN, ROW)) == (WHEN, ROW)
    assert cursors.decode("messages", cursors.encode("messages", ROW)) == (ROW,)


def test_no_cursor_means_the_first_page():
    assert cursors.decode("search", None) is None
    assert cursors.decode("sessions", "") is None


def test_a_cursor_only_opens_the_listing_that_issued_it():
    with pytest.raises(ApiError):
        cursors.decode("session_search", cursors.encode("search", 0.5, WHEN, ROW))
    with pytest.raises(ApiError):
        cursors.decode("shared_messages", cursors.encode("messages", ROW))


@pytest.mark.parametrize("listing, cursor", [
    ("search", "!!!"), ("search", "bm90IGpzb24"), ("search", "ünïcode"),
    ("search", forged([0, "...", 1])),  # the tampered cursor
    ("search", forged(["search", 1e308, WHEN.isoformat(), str(ROW)])),  # overflows ::real
    ("search", forged(b'["search", Infinity, "2026-01-01T00:00:00+00:00", "' + str(ROW).encode() + b'"]')),
    ("search", forged(["search", -1, WHEN.isoformat(), str(ROW)])),
    ("search", forged(["search", True, WHEN.isoformat(), str(ROW)])),
    ("search", forged(["search", 1, "yesterday", str(ROW)])),
    ("search", forged(["search", 1, "2026-01-01T00:00:00", str(ROW)])),  # no time zone
    ("search", forged(["search", 1, WHEN.isoformat(), "not-a-uuid"])),
    ("search", forged(["search", 1, WHEN.isoformat(), ROW.hex])),  # not the canonical form we issue
    ("search", forged(["search", 1, WHEN.isoformat()])),  # truncated
    ("sessions", forged(["sessions", 0, WHEN.isoformat(), str(ROW)])),  # the old 3-field shape
    ("sessions", forged({"a": 1})), ("sessions", forged(b"\xff\xfe")), ("sessions", forged(b"[" * 5000)),
    ("messages", forged(["messages", 12])),
])
def test_malformed_cursors_are_400_naming_the_field(listing, cursor):
    with pytest.raises(ApiError) as caught:
        cursors.decode(listing, cursor)
    assert caught.value.status == 400
    assert caught.value.details["validation_errors"][0]["field"] == "cursor"

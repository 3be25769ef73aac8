"""app/chat/cursors.py: opaque keyset cursors."""
import base64
import uuid
from datetime import UTC, datetime

import pytest

from app.chat import cursors
from app.errors import ApiError

WHEN = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
ROW = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def test_round_trip_without_padding():
    cursor = cursors.encode(0.75, WHEN, ROW)
    assert "=" not in cursor
    assert cursors.decode(cursor) == (0.75, WHEN, ROW)


def test_no_cursor_means_the_first_page():
    assert cursors.decode(None) == (None, None, None)
    assert cursors.decode("") == (None, None, None)


def test_a_rank_is_only_required_where_results_are_ranked():
    cursor = cursors.encode("not-a-rank", WHEN, ROW)
    assert cursors.decode(cursor, with_rank=False)[2] == ROW
    with pytest.raises(ApiError):
        cursors.decode(cursor)


@pytest.mark.parametrize("cursor", [
    "!!!", "bm90IGpzb24", base64.urlsafe_b64encode(b'[1, "yesterday", "x"]').decode(),
    base64.urlsafe_b64encode(b'[1, "2026-01-01T00:00:00", "not-a-uuid"]').decode(),
    base64.urlsafe_b64encode(b'{"a": 1}').decode(), base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_malformed_cursors_are_400_naming_the_field(cursor):
    with pytest.raises(ApiError) as caught:
        cursors.decode(cursor)
    assert caught.value.status == 400
    assert caught.value.details["validation_errors"][0]["field"] == "cursor"

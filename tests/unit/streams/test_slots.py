"""app/streams/slots.py: the caps on concurrent streams of one worker, per worker and per client."""
import pytest

from app.errors import ApiError
from app.streams.slots import StreamSlots


def refused(slots, client_id):
    with pytest.raises(ApiError) as caught:
        slots.open(client_id)
    return caught.value


def test_a_client_at_its_cap_is_429_and_a_full_worker_503_and_tickets_release_once():
    slots = StreamSlots(limit=3, per_client=2)
    first = slots.open("a")
    slots.open("a")
    assert refused(slots, "a").status == 429  # its own cap, told first
    last = slots.open("b")
    error = refused(slots, "c")
    assert error.status == 503 and error.headers["Retry-After"] == "1"
    first.release()
    first.release()  # the relay's end and an error path may both release: counted once
    assert (slots.active, slots.held_by("a"), slots.held_by("b")) == (2, 1, 1)
    last.release()
    assert slots.open("c") and slots.held_by("b") == 0

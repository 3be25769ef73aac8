"""App/read_slots.py bounds concurrent expensive reads per client (429 at once) and per worker
(a bounded wait, then 503), and the expensive views run within it (in-process app, no database needed:
a refused read never reaches one)."""
import uuid
from contextlib import ExitStack

import gevent
import gevent.event
import pytest

from app import create_app, ids
from app.errors import ApiError
from app.read_slots import ReadSlots
from support.engine import token
from support.inprocess import make_config
from support.waiting import wait_until


def refused(slots, client_id):
    with pytest.raises(ApiError) as caught, slots.hold(client_id):
        pass
    return caught.value


def test_a_client_over_its_cap_is_refused_at_once_and_others_are_not():
    slots = ReadSlots(per_client=2, per_worker=10, wait_seconds=5)
    with ExitStack() as held:
        held.enter_context(slots.hold("a"))
        held.enter_context(slots.hold("a"))
        error = refused(slots, "a")
        assert (error.status, error.error_code) == (429, "RATE_LIMIT_EXCEEDED")
        assert error.details == {"limit_type": "concurrent", "retry_after_seconds": 1}
        assert error.headers == {"Retry-After": "1"}
        with slots.hold("b"), slots.hold(None):  # another client, a public read
            assert slots.state() == {"active": 4, "waiting": 0, "limit": 10, "per_client_limit": 2}
        assert slots.held_by("a") == 2
    assert slots.held_by("a") == 0 and slots.state()["active"] == 0
    with slots.hold("a"), slots.hold("a"):  # given back: the cap applies to reads running, not to a count
        pass


def test_a_read_that_fails_gives_its_slots_back():
    slots = ReadSlots(per_client=1, per_worker=1, wait_seconds=5)
    with pytest.raises(ValueError), slots.hold("a"):
        raise ValueError("the view failed")
    with slots.hold("a"):
        assert slots.state()["active"] == 1


def test_past_the_workers_cap_a_read_waits_for_a_slot():
    slots = ReadSlots(per_client=5, per_worker=1, wait_seconds=30)
    inside = gevent.event.Event()

    def second_read():
        with slots.hold("b"):
            inside.set()

    with slots.hold("a"):
        waiter = gevent.spawn(second_read)
        wait_until(lambda: slots.state()["waiting"] == 1, message="the second read to queue")
        assert not inside.is_set() and slots.state()["active"] == 1
    assert inside.wait(timeout=10)
    waiter.join(timeout=10)
    assert waiter.successful() and slots.state() == {"active": 0, "waiting": 0, "limit": 1, "per_client_limit": 5}


def test_a_read_that_waited_too_long_for_the_worker_is_503_and_keeps_nothing():
    slots = ReadSlots(per_client=5, per_worker=1, wait_seconds=0.05)
    with slots.hold("a"):
        error = refused(slots, "b")
    assert (error.status, error.error_code) == (503, "RATE_LIMIT_EXCEEDED")
    assert error.details["limit_type"] == "concurrent" and error.headers == {"Retry-After": "1"}
    assert slots.held_by("b") == 0 and slots.state()["waiting"] == 0


def test_zero_turns_a_bound_off():
    slots = ReadSlots(per_client=0, per_worker=0, wait_seconds=0)
    with ExitStack() as held:
        for _ in range(50):
            held.enter_context(slots.hold("a"))
        assert slots.state()["active"] == 50


def test_the_worker_bound_defaults_to_half_the_pool(monkeypatch):
    from app.config import Config

    for name in ("MAX_CONCURRENT_READS_PER_CLIENT", "MAX_CONCURRENT_READS_PER_WORKER", "DB_POOL_MAX_SIZE"):
        monkeypatch.delenv(name, raising=False)
    config = Config()
    assert (config.max_concurrent_reads_per_client, config.max_concurrent_reads_per_worker) == (4, 5)
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "3")
    assert Config().max_concurrent_reads_per_worker == 1
    monkeypatch.setenv("MAX_CONCURRENT_READS_PER_WORKER", "7")
    assert Config().max_concurrent_reads_per_worker == 7


SESSION = ids.session_gts(uuid.uuid4())
MESSAGE = ids.message_gts(uuid.uuid4())
EXPENSIVE = [("GET", "/api/v1/search?query=river"), ("GET", f"/api/v1/sessions/{SESSION}/search?query=river"),
             ("GET", f"/api/v1/sessions/{SESSION}/messages"), ("GET", f"/api/v1/messages/{MESSAGE}/variants"),
             ("POST", f"/api/v1/sessions/{SESSION}/export"), ("GET", "/api/v1/share/some-token/messages")]


@pytest.mark.parametrize("method, path", EXPENSIVE)
def test_the_expensive_views_answer_429_in_the_contracts_shape(method, path, contract_for):
    app = create_app(make_config(max_concurrent_reads_per_client=1))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token('reader')}"}
    with app.extensions["chat_engine"].reads.hold("reader"):  # one of its reads is running
        response = client.open(path, method=method, headers=headers,
                               json={"format": "json", "scope": "all"} if method == "POST" else None)
    contract = contract_for(client)
    body = contract.validate_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert body["details"]["limit_type"] == "concurrent" and response.headers["Retry-After"] == "1"
    template = path.removeprefix("/api/v1").split("?")[0].replace(SESSION, "{id}").replace(MESSAGE, "{id}")
    operation = contract.document["paths"][template.replace("some-token", "{token}")][method.lower()]
    assert "429" in operation["responses"]  # documented

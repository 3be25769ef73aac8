"""Fairness between clients (breakers aside): one client cannot degrade the others — stream caps, metadata
caps, statement timeouts, bounded message pages."""
import secrets
import time
import uuid

import psycopg
import pytest

from app.chat.exports import _signature
from hardening.conftest import LocalApi
from support.contract import Contract

# -- per-client concurrent streams ------------------------------------------------------------------


def open_stream(api, session_id, content="hi"):
    """Start a send without reading it: the stream holds its slots until the response is closed."""
    return api.call("post", "/messages/send", json={"session_id": session_id, "content": content}, buffered=False)


def test_one_client_at_its_stream_cap_gets_429_and_others_still_stream(make_local, backend, database_url):
    local = make_local(max_streams_per_client=2)
    contract = Contract(local.get("/api/v1/openapi.json").get_json())
    operator = LocalApi(local, "operator", admin=True)
    type_id = operator.post("/admin/session-types", json={"name": f"t_{uuid.uuid4().hex[:8]}",
                                                          "webhook_url": backend.url}).get_json()["session_type_id"]
    greedy, other = LocalApi(local, "greedy"), LocalApi(local, "other")
    sessions = [greedy.create_session(type_id) for _ in range(3)]
    held = [open_stream(greedy, sessions[0]), open_stream(greedy, sessions[1])]
    assert [r.status_code for r in held] == [200, 200]

    refused = open_stream(greedy, sessions[2])
    body = contract.validate_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert body["details"]["limit_type"] == "concurrent" and body["details"]["retry_after_seconds"] >= 1
    assert refused.headers["Retry-After"] == str(body["details"]["retry_after_seconds"])

    other.send(other.create_session(type_id), "the others are not affected")
    held[0].close()  # the stream ends: its slot is the client's again
    freed = open_stream(greedy, sessions[2])
    assert freed.status_code == 200
    for response in (held[1], freed):
        response.close()
    assert local.application.extensions["chat_engine"].slots.held_by("greedy") == 0


def test_a_stream_that_fails_to_start_gives_its_slot_back(make_local):
    local = make_local(max_streams_per_client=1)
    api = LocalApi(local, "unlucky")
    missing = "gts.hyperspot.chat_engine.entities.session.v1~" + str(uuid.uuid4())
    for _ in range(3):  # 404s from transaction 1 must not leak slots
        assert open_stream(api, missing).status_code == 404
    assert local.application.extensions["chat_engine"].slots.held_by("unlucky") == 0


# -- metadata caps -------------------------------------------------------------------------------------


def nested(depth):
    value = {}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_metadata_depth_is_capped_at_16_on_create_and_patch(owner, local_session_type):
    assert owner.post("/sessions", json={"session_type_id": local_session_type, "metadata": nested(16)}
                      ).status_code == 201
    session_id = owner.create_session(local_session_type)
    assert owner.patch(f"/sessions/{session_id}", json={"metadata": nested(16)}).status_code == 200
    response = owner.patch(f"/sessions/{session_id}", json={"metadata": {"n": nested(16)}})
    assert response.status_code == 400
    assert response.get_json()["details"]["validation_errors"][0]["code"] == "too_deep"
    assert owner.post("/sessions", json={"session_type_id": local_session_type, "metadata": nested(17)}
                      ).status_code == 400


def test_metadata_size_is_capped_across_repeated_patches(owner, local_session_type):
    assert owner.post("/sessions", json={"session_type_id": local_session_type,
                                         "metadata": {"blob": "x" * 70_000}}).status_code == 413
    session_id = owner.create_session(local_session_type)
    statuses = [owner.patch(f"/sessions/{session_id}", json={"metadata": {f"k{n}": "y" * 10_000}}).status_code
                for n in range(8)]
    assert statuses[:6] == [200] * 6 and statuses[6:] == [413, 413]  # 7 x 10 kB > 64 KiB
    stored = owner.get(f"/sessions/{session_id}").get_json()["metadata"]
    assert len(stored) == 6
    # Removing keys makes room again: the cap is on what is stored, not on the number of calls.
    assert owner.patch(f"/sessions/{session_id}", json={"metadata": {"k0": None, "k6": "z"}}).status_code == 200


# -- statement timeouts --------------------------------------------------------------------------------


@pytest.fixture
def table_locker(database_url):
    """Holds an exclusive lock on a table, so statements reading it wait until their statement_timeout."""
    with psycopg.connect(database_url) as conn:
        def lock(table):
            conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield lock
        conn.rollback()


def test_a_search_over_its_statement_timeout_is_a_clean_503(make_local, table_locker):
    local = make_local(search_statement_timeout_ms=200)
    api = LocalApi(local)
    contract = Contract(local.get("/api/v1/openapi.json").get_json())
    table_locker("messages")
    started = time.monotonic()
    response = api.get("/search?query=anything")
    body = contract.validate_error(response, 503, "INTERNAL_ERROR")
    assert "took too long" in body["message"] and int(response.headers["Retry-After"]) > 0
    assert time.monotonic() - started < 5


def test_an_export_over_its_statement_timeout_is_a_clean_503(make_local, table_locker):
    local = make_local(export_statement_timeout_ms=200, signing_key=secrets.token_hex(32))
    config = local.application.extensions["chat_engine"].config
    export_id, expires = uuid.uuid4(), int(time.time()) + 600
    table_locker("exports")
    response = local.get(f"/api/v1/exports/{export_id}?expires={expires}"
                         f"&signature={_signature(config.url_signing_key, export_id, expires)}")
    assert response.status_code == 503 and response.headers["Retry-After"]


# -- bounded message pages ---------------------------------------------------------------------------


def texts(messages):
    return [m["content"][0]["text"] for m in messages]


def pages(api, path, limit):
    collected, cursor, calls = [], None, 0
    while True:
        response = api.get(f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["messages"]) <= limit
        collected += body["messages"]
        cursor, calls = body["next_cursor"], calls + 1
        if cursor is None:
            return collected, calls


def test_messages_and_share_views_page_with_limit_and_cursor(local, owner, local_session_type):
    session_id = owner.create_session(local_session_type)
    for n in range(4):
        owner.send(session_id, f"q{n}")
    whole = owner.get(f"/sessions/{session_id}/messages").get_json()
    assert len(whole["messages"]) == 8 and whole["next_cursor"] is None

    paged, calls = pages(owner, f"/sessions/{session_id}/messages", 3)
    assert texts(paged) == texts(whole["messages"]) and calls == 3

    token = owner.post(f"/sessions/{session_id}/share", json={}).get_json()["share_token"]
    anonymous = LocalApi(local)
    anonymous.headers = {}
    shared, _ = pages(anonymous, f"/share/{token}", 5)
    assert texts(shared) == texts(whole["messages"])
    recipient = LocalApi(local, "recipient-erin")
    recipient.stream(f"/share/{token}/messages", {"content": "erin asks"})
    branch, _ = pages(recipient, f"/share/{token}/messages", 3)
    assert texts(branch) == texts(whole["messages"]) + ["erin asks", "Hello world"]

    for bad in ("limit=0", "limit=201", "limit=abc", "cursor=nope"):
        assert owner.get(f"/sessions/{session_id}/messages?{bad}").status_code == 400, bad
        assert anonymous.get(f"/share/{token}?{bad}").status_code == 400, bad


def test_children_listings_page_by_variant(owner, local_session_type):
    session_id = owner.create_session(local_session_type)
    owner.send(session_id, "question")
    question = owner.get(f"/sessions/{session_id}/messages").get_json()["messages"][0]
    reply_id = owner.get(f"/sessions/{session_id}/messages").get_json()["messages"][1]["message_id"]
    for _ in range(4):
        response, events = owner.stream(f"/messages/{reply_id}/recreate", {})
        assert events[-1]["type"] == "complete"
    base = f"/sessions/{session_id}/messages?parent_message_id={question['message_id']}&limit=2"
    first = owner.get(base).get_json()
    second = owner.get(f"{base}&cursor={first['next_cursor']}").get_json()
    third = owner.get(f"{base}&cursor={second['next_cursor']}").get_json()
    assert [m["variant_index"] for m in first["messages"] + second["messages"] + third["messages"]] == [0, 1, 2, 3, 4]
    assert third["next_cursor"] is None

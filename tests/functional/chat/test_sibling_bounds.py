"""Siblings (variants) over HTTP: listings paged and bounded in SQL, a cap on siblings
per parent where recreate, branch, edit or post adds one, and activate racing a delete.

Siblings that exist from before the cap (or that a test needs by the hundred) are stored directly in
PostgreSQL; everything asserted goes through the engine, and every answer is checked against its
OpenAPI document."""
import gevent
import pytest

from app import ids
from support.backends import numbered_replies
from support.engine import expect
from support.waiting import wait_until

BIG_TEXT = "lorem " * 35_000  # ~210 KB, as in the finding
PAGE_BYTES = 1024 * 1024  # SIBLING_PAGE_MAX_BYTES' default


def uuid_of(gts_id):
    return ids.parse_message_id(gts_id)


def add_siblings(db, parent_gts, texts, start):
    """Inactive siblings under a parent, indexes from `start` on, stored as data from before the cap."""
    db.execute(
        """INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active)
           SELECT gen_random_uuid(), p.session_id, p.id, 'assistant',
                  jsonb_build_array(jsonb_build_object('type', 'text', 'text', t.text)), %(start)s + t.n - 1, false
             FROM messages p, unnest(%(texts)s::text[]) WITH ORDINALITY AS t(text, n)
            WHERE p.id = %(parent)s""",
        {"parent": uuid_of(parent_gts), "texts": texts, "start": start})


def test_the_variants_of_400_siblings_come_in_bounded_pages(api, backend, session_type, db, contract):
    """The finding: 400 siblings of ~210 KB made one 84 MB answer. Here the first 24 are that large (enough
    for several pages of them) and the rest small: a page is at most 1 MiB of content, never all 400, and
    next_cursor leads on to the next sibling."""
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    add_siblings(db, sent.user_message_id, [f"{i} {BIG_TEXT}" for i in range(1, 24)], start=1)
    add_siblings(db, sent.user_message_id, [f"small {i}" for i in range(24, 400)], start=24)

    response = expect(api.get(f"/messages/{sent.message_id}/variants"), 200)
    page = contract.validate(response.json(), "MessageVariants")
    assert len(response.content) < PAGE_BYTES + 64 * 1024, len(response.content)
    assert [v["variant_index"] for v in page["variants"]] == [0, 1, 2, 3, 4]  # the reply, then 4 × 210 KB
    assert page["current_index"] == 0 and page["next_cursor"]

    second = contract.validate(expect(api.get(f"/messages/{sent.message_id}/variants",
                                              params={"cursor": page["next_cursor"]}), 200).json(), "MessageVariants")
    assert [v["variant_index"] for v in second["variants"]] == [5, 6, 7, 8]
    assert second["current_index"] == 0  # the active sibling is on another page

    small = contract.validate(expect(api.get(f"/messages/{sent.message_id}/variants",
                                             params={"limit": 2}), 200).json(), "MessageVariants")
    assert [v["variant_index"] for v in small["variants"]] == [0, 1] and small["next_cursor"]


def test_children_with_parent_and_limit_are_exactly_the_right_rows(api, backend, session_type, db, contract):
    """`?parent_message_id=…&limit=1` filters and limits in SQL: a hidden first child does not eat the
    page (it used to be sliced off first and filtered afterwards: an empty page), and the cursor goes on."""
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    parent = sent.user_message_id
    posted = expect(api.post(f"/sessions/{session_id}/messages", json={
        "role": "system", "content": "hidden", "parent_message_id": parent, "hidden_from_user": True}), 201).json()
    add_siblings(db, parent, [f"old {i}" for i in range(2, 300)], start=2)
    expect(api.post(f"/messages/{sent.message_id}/activate"), 200)  # the reply: variant 0, before the hidden one

    query = {"parent_message_id": parent, "limit": 1}
    first = contract.validate(expect(api.get(f"/sessions/{session_id}/messages", params=query), 200).json(),
                              "MessageList")
    assert [m["message_id"] for m in first["messages"]] == [sent.message_id]
    assert first["messages"][0]["variant_info"]["total_variants"] == 300
    second = contract.validate(expect(api.get(f"/sessions/{session_id}/messages",
                                              params={**query, "cursor": first["next_cursor"]}), 200).json(),
                               "MessageList")
    assert posted["variant_index"] == 1  # hidden: skipped by the page, not in its place
    assert [m["content"][0]["text"] for m in second["messages"]] == ["old 2"] and second["next_cursor"]


def test_a_variant_past_the_cap_is_409_and_the_common_send_goes_on(api, backend, session_type, db, contract):
    """MAX_SIBLINGS_PER_PARENT (100): the 100th reply variant is made, the 101st is refused, and so are a
    branch and a post under that parent; sending on, which continues the active path, is not."""
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    add_siblings(db, sent.user_message_id, [f"old {i}" for i in range(1, 99)], start=1)
    assert api.recreate(sent.message_id).types[-1] == "complete"  # the 100th

    refused = [api.post(f"/messages/{sent.message_id}/recreate"),
               api.post("/messages/send", json={"session_id": session_id, "content": "branch",
                                                "parent_message_id": sent.user_message_id}),
               api.post(f"/sessions/{session_id}/messages", json={"role": "user", "content": "posted",
                                                                  "parent_message_id": sent.user_message_id})]
    for response, field in zip(refused, ("id", "parent_message_id", "parent_message_id"), strict=True):
        body = contract.validate_error(response, 409, "INVALID_REQUEST")
        assert body["details"]["validation_errors"][0]["code"] == "too_many_variants"
        assert body["details"]["validation_errors"][0]["field"] == field and "100" in body["message"]
    count = db.execute("SELECT count(*) AS n FROM messages WHERE parent_id = %s",
                       (uuid_of(sent.user_message_id),)).fetchone()["n"]
    assert count == 100

    assert api.send(session_id, "and on").types[-1] == "complete"


def test_an_edit_past_the_cap_is_409(api, backend, session_type, db, contract):
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    api.send(session_id, "q1")
    second = api.send(session_id, "q2")  # its parent: reply 1
    parent = api.get(f"/messages/{second.user_message_id}").json()["parent_message_id"]
    add_siblings(db, parent, [f"old {i}" for i in range(1, 99)], start=1)
    edit = {"session_id": session_id, "content": "q2, edited", "edited_message_id": second.user_message_id}
    assert api.send(**edit).types[-1] == "complete"  # the 100th

    body = contract.validate_error(api.post("/messages/send", json=edit), 409, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0] == {
        "field": "edited_message_id", "code": "too_many_variants", "message": body["message"]}


def test_activate_racing_a_delete_is_404(api, backend, session_type, db, contract):
    """Activate racing a delete, with real transactions: activate reads the message, then waits for the session lock a
    delete holds; the delete commits; activate must answer 404 (it raised a TypeError: a 500)."""
    numbered_replies(backend)
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    doomed = api.recreate(sent.message_id).message_id  # variant 1
    expect(api.post(f"/messages/{sent.message_id}/activate"), 200)  # doomed: the last, inactive variant

    with db.transaction():
        db.execute("SELECT id FROM sessions WHERE id = %s FOR NO KEY UPDATE",
                   (ids.parse_session_id(session_id),))  # as app/chat/deletion.py takes it
        activating = gevent.spawn(api.post, f"/messages/{doomed}/activate")
        wait_until(lambda: db.execute(  # activate has read the message and now waits for the lock
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()["n"] == 1, timeout=10, message="activate waiting for the session lock")
        db.execute("DELETE FROM messages WHERE id = %s", (uuid_of(doomed),))  # no gap: it is the last index
    response = activating.get(timeout=10)

    body = contract.validate_error(response, 404, "MESSAGE_NOT_FOUND")
    assert body["details"]["resource_id"] == str(uuid_of(doomed))
    assert [m["message_id"] for m in api.path(session_id)] == [sent.user_message_id, sent.message_id]


@pytest.mark.parametrize("limit", [0, 201, "x"])
def test_a_variants_limit_out_of_range_is_400(api, session_type, contract, limit):
    session_id = api.create_session(session_type)
    sent = api.send(session_id, "question")
    response = api.get(f"/messages/{sent.message_id}/variants", params={"limit": limit})
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == "limit"

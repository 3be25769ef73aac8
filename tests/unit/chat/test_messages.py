"""app/chat/messages.py against the real database: sibling listings paged in SQL and
activate racing a delete."""
import json

import pytest

from app import db as app_db
from app.auth import Caller
from app.chat import deletion, messages, posting
from app.db import queries as q
from app.errors import ApiError

PAGE_BYTES = 1024 * 1024  # the default SIBLING_PAGE_MAX_BYTES
BIG_TEXT = "lorem " * 35_000  # ~210 KB, as in the finding


def post(database, caller, session_id, text, parent_id=None, **flags):
    return posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": text}],
                                parent_id=parent_id, **flags)


def add_siblings(conn, session_id, parent_id, texts, start):
    """Siblings stored as data from before the cap (directly, inactive), indexes from `start` on."""
    conn.execute(
        """INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active)
           SELECT gen_random_uuid(), %(session_id)s, %(parent_id)s, 'assistant',
                  jsonb_build_array(jsonb_build_object('type', 'text', 'text', t.text)), %(start)s + t.n - 1, false
             FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS t(text, n)""",
        {"session_id": session_id, "parent_id": parent_id, "texts": texts, "start": start})


@pytest.fixture
def rows_read(monkeypatch):
    """How many rows each query of app/chat read, by query name."""
    read = []
    original = app_db.Query._result

    def counting(self, cursor):
        result = original(self, cursor)
        read.append((self.name, cursor.rowcount))
        return result
    monkeypatch.setattr(app_db.Query, "_result", counting)
    return read


def content_bytes(rows):
    return sum(len(json.dumps(r["content"])) for r in rows)


def test_a_variants_page_of_400_siblings_is_bounded_and_the_rest_is_reachable(database, caller, conn, make_session,
                                                                              rows_read):
    """400 siblings, the first twelve of ~210 KB (as in the finding): a page holds at most `limit` (100)
    siblings and about 1 MiB of content, every page but the last has a cursor, and the pages together are
    every sibling once, in order. No statement reads more than one page's rows."""
    session_id = make_session()
    question = post(database, caller, session_id, "question")
    first = post(database, caller, session_id, BIG_TEXT)  # variant 0, active
    add_siblings(conn, session_id, question["id"], [f"{i} {BIG_TEXT}" for i in range(1, 12)], start=1)
    add_siblings(conn, session_id, question["id"], [f"small {i}" for i in range(12, 400)], start=12)

    rows_read.clear()
    page, current, next_cursor = messages.variants(database, caller, first["id"])
    assert len(page) == 4 and content_bytes(page) <= PAGE_BYTES  # 5 × 210 KB would pass 1 MiB
    assert current == 0 and next_cursor is not None
    assert max(n for name, n in rows_read) <= 4  # no statement read every sibling

    pages, seen = [page], [r["variant_index"] for r in page]
    while next_cursor is not None:
        page, current, next_cursor = messages.variants(database, caller, first["id"], cursor=next_cursor)
        assert page and len(page) <= 100 and content_bytes(page) <= PAGE_BYTES and current == 0
        pages.append(page)
        seen += [r["variant_index"] for r in page]
    assert seen == list(range(400))
    assert [len(p) for p in pages] == [4, 4, 100, 100, 100, 92]  # the third: 4 large, then small ones
    assert max(n for name, n in rows_read) <= 100


def test_a_variants_page_holds_at_most_limit_siblings_and_names_the_active_one_off_the_page(database, caller,
                                                                                           make_session):
    session_id = make_session()
    root = post(database, caller, session_id, "root")
    kids = [post(database, caller, session_id, f"v{i}", parent_id=root["id"]) for i in range(5)]  # v4 active

    page, current, next_cursor = messages.variants(database, caller, kids[0]["id"], limit=2)
    assert [r["id"] for r in page] == [kids[0]["id"], kids[1]["id"]] and current == 4
    page, _, next_cursor = messages.variants(database, caller, kids[0]["id"], limit=2, cursor=next_cursor)
    assert [r["id"] for r in page] == [kids[2]["id"], kids[3]["id"]]
    page, _, next_cursor = messages.variants(database, caller, kids[0]["id"], limit=2, cursor=next_cursor)
    assert [r["id"] for r in page] == [kids[4]["id"]] and next_cursor is None
    # Small siblings: the default page is every one of them, as before pagination.
    page, _, next_cursor = messages.variants(database, caller, kids[0]["id"])
    assert len(page) == 5 and next_cursor is None


def test_children_with_a_limit_are_filtered_and_limited_in_sql(database, caller, conn, make_session, rows_read):
    session_id = make_session()
    root = post(database, caller, session_id, "root")
    hidden = post(database, caller, session_id, "hidden", parent_id=root["id"], hidden_from_user=True)
    wanted = post(database, caller, session_id, "wanted", parent_id=root["id"])
    after = post(database, caller, session_id, "after", parent_id=root["id"])
    add_siblings(conn, session_id, root["id"], [f"old {i}" for i in range(397)], start=3)
    assert hidden["variant_index"] == 0

    rows_read.clear()
    page, next_cursor = messages.list_messages(database, caller, session_id, parent_id=root["id"], children=True,
                                               limit=1)
    assert [r["id"] for r in page] == [wanted["id"]]  # the hidden first child is skipped, not the page
    assert page[0]["total_variants"] == 400
    assert max(n for name, n in rows_read) <= 2  # limit + 1 at most, never the 400 children
    page, next_cursor = messages.list_messages(database, caller, session_id, parent_id=root["id"], children=True,
                                               limit=1, cursor=next_cursor)
    assert [r["id"] for r in page] == [after["id"]] and next_cursor is not None


def test_children_of_the_roots_are_paged_too(database, caller, conn, make_session):
    session_id = make_session()
    first = post(database, caller, session_id, "first")
    post(database, caller, session_id, "below first")
    add_siblings(conn, session_id, None, ["second root", "third root"], start=1)
    page, next_cursor = messages.list_messages(database, caller, session_id, parent_id=None, children=True, limit=2)
    assert [r["variant_index"] for r in page] == [0, 1] and page[0]["id"] == first["id"]
    page, next_cursor = messages.list_messages(database, caller, session_id, parent_id=None, children=True, limit=2,
                                               cursor=next_cursor)
    assert [r["variant_index"] for r in page] == [2] and next_cursor is None


def test_activate_of_a_message_deleted_while_it_waited_for_the_lock_is_404(database, caller, make_session,
                                                                           monkeypatch):
    """Activate racing a delete, made deterministic: the delete lands between activate's read of the
    message and its session lock (as when the delete holds the lock and commits while activate waits)."""
    session_id = make_session()
    root = post(database, caller, session_id, "root")
    kept = post(database, caller, session_id, "kept", parent_id=root["id"])
    doomed = post(database, caller, session_id, "doomed", parent_id=root["id"])
    messages.activate(database, caller, kept["id"])  # doomed: the last, inactive variant

    lock_session = q.lock_session

    def delete_then_lock(conn, **params):
        monkeypatch.setattr(q, "lock_session", lock_session)
        deletion.delete_message(database, caller, doomed["id"])
        return lock_session(conn, **params)

    monkeypatch.setattr(q, "lock_session", delete_then_lock)
    with pytest.raises(ApiError) as refused:
        messages.activate(database, caller, doomed["id"])
    assert (refused.value.status, refused.value.error_code) == (404, "MESSAGE_NOT_FOUND")
    assert messages.get_message(database, caller, kept["id"])["is_active"] is True


def test_activate_of_a_message_whose_session_went_meanwhile_is_404(database, caller, make_session, monkeypatch):
    session_id = make_session()
    only = post(database, caller, session_id, "only")
    lock_session = q.lock_session

    def delete_session_then_lock(conn, **params):
        conn.execute("DELETE FROM sessions WHERE id = %s", (session_id,))
        return lock_session(conn, **params)

    monkeypatch.setattr(q, "lock_session", delete_session_then_lock)
    with pytest.raises(ApiError) as refused:
        messages.activate(database, caller, only["id"])
    assert refused.value.error_code == "MESSAGE_NOT_FOUND"


def test_others_cannot_page_variants(database, make_session, caller):
    session_id = make_session()
    mine = post(database, caller, session_id, "mine")
    with pytest.raises(ApiError) as refused:
        messages.variants(database, Caller("mallory", False), mine["id"])
    assert refused.value.status == 404

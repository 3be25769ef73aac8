"""app/chat/deletion.py and app/chat/posting.py against the real database: indexes closed up, the
active variant handed to the nearest sibling, the tree-position trigger still guarding everything else."""
import psycopg
import pytest

from app.chat import deletion, messages, posting
from app.errors import ApiError


def post(database, caller, session_id, text, parent_id=None, **flags):
    return posting.post_message(database, caller, session_id, "user", [{"type": "text", "text": text}],
                                parent_id=parent_id, **flags)


def test_deleting_a_middle_variant_closes_the_gap_and_activates_the_one_before(database, caller, make_session,
                                                                                 conn):
    session_id = make_session()
    root = post(database, caller, session_id, "root")
    kids = [post(database, caller, session_id, f"v{i}", parent_id=root["id"]) for i in range(4)]
    messages.activate(database, caller, kids[2]["id"])
    post(database, caller, session_id, "below v2")

    deleted, activated = deletion.delete_message(database, caller, kids[2]["id"])
    assert len(deleted) == 2 and activated == kids[1]["id"]
    rows = conn.execute("SELECT id, variant_index, is_active FROM messages WHERE parent_id = %s ORDER BY variant_index",
                        (root["id"],)).fetchall()
    assert [(r["id"], r["variant_index"], r["is_active"]) for r in rows] == [
        (kids[0]["id"], 0, False), (kids[1]["id"], 1, True), (kids[3]["id"], 2, False)]


def test_deleting_the_last_message_ends_the_path_at_its_parent(database, caller, make_session):
    session_id = make_session()
    first = post(database, caller, session_id, "first")
    second = post(database, caller, session_id, "second")  # below first, the active leaf
    _, activated = deletion.delete_message(database, caller, second["id"])
    assert activated is None
    assert [r["id"] for r in messages.list_messages(database, caller, session_id)] == [first["id"]]


def test_deleting_an_inactive_variant_leaves_the_active_path_alone(database, caller, make_session):
    session_id = make_session()
    root = post(database, caller, session_id, "root")
    old = post(database, caller, session_id, "old", parent_id=root["id"])
    new = post(database, caller, session_id, "new", parent_id=root["id"])
    _, activated = deletion.delete_message(database, caller, old["id"])
    assert activated is None
    path = messages.list_messages(database, caller, session_id)
    assert [(r["id"], r["variant_index"]) for r in path] == [(root["id"], 0), (new["id"], 0)]


def test_variant_indexes_stay_immutable_outside_a_deletion(database, caller, make_session, conn):
    session_id = make_session()
    row = post(database, caller, session_id, "root")
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute("UPDATE messages SET variant_index = 5 WHERE id = %s", (row["id"],))


def test_a_hidden_post_is_stored_but_not_listed(database, caller, make_session):
    session_id = make_session()
    prompt = post(database, caller, session_id, "system rules", hidden_from_user=True)
    assert prompt["is_hidden_from_user"] is True
    assert messages.list_messages(database, caller, session_id) == []
    with pytest.raises(ApiError):
        deletion.delete_message(database, caller.__class__(client_id="mallory", is_admin=False), prompt["id"])

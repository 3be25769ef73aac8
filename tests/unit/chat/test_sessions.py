"""app/chat/sessions.py: merge-patch (pure) and the session queries, against the real database."""
import uuid

import pytest

from app.auth import Caller
from app.chat import sessions
from app.errors import ApiError


@pytest.mark.parametrize("target, patch, merged", [
    ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}}, {"a": {"x": 1, "z": 3}}),
    ({"a": {"x": 1}}, {"a": [1, 2]}, {"a": [1, 2]}),
    ({"a": 1}, {"a": {"x": None, "y": 2}}, {"a": {"y": 2}}),
    ({}, {"gone": None}, {}),
])
def test_merge_patch_follows_rfc_7386(target, patch, merged):
    original = {**target}
    assert sessions.merge_patch(target, patch) == merged
    assert target == original  # never mutated


def test_get_session_is_404_for_another_client(database, caller, make_session):
    session_id = make_session()
    assert sessions.get_session(database, caller, session_id)["id"] == session_id
    for other, target in ((Caller("mallory", False), session_id), (caller, uuid.uuid4())):
        with pytest.raises(ApiError) as caught:
            sessions.get_session(database, other, target)
        assert caught.value.error_code == "SESSION_NOT_FOUND"


def test_metadata_updates_merge(database, caller, make_session):
    session_id = make_session(metadata={"title": "Old", "tags": ["a"], "keep": 1})
    row = sessions.update_metadata(database, caller, session_id, {"title": "New", "tags": None})
    assert row["metadata"] == {"title": "New", "keep": 1}


def test_listing_pages_by_cursor_without_gaps_or_repeats_and_filters_by_tag(database, caller, make_session):
    made = {make_session(metadata={"tags": ["even"] if i % 2 == 0 else []}) for i in range(5)}
    make_session(client_id="someone-else")
    seen, cursor = [], None
    while True:
        rows, cursor = sessions.list_sessions(database, caller, 2, cursor=cursor)
        seen += [r["id"] for r in rows]
        if cursor is None:
            break
    assert len(seen) == 5 and set(seen) == made
    tagged, _ = sessions.list_sessions(database, caller, 10, tag="even")
    assert len(tagged) == 3


def test_a_periodic_job_is_started_by_one_caller_per_interval(conn):
    from app.db import queries as q

    conn.execute("UPDATE maintenance_runs SET last_started_at = '-infinity' WHERE name = 'retention'")
    assert q.start_maintenance_run(conn, name="retention", every_seconds=3600) is True
    assert q.start_maintenance_run(conn, name="retention", every_seconds=3600) is None  # another instance's try
    conn.execute("UPDATE maintenance_runs SET last_started_at = now() - interval '2 hours' WHERE name = 'retention'")
    assert q.start_maintenance_run(conn, name="retention", every_seconds=3600) is True

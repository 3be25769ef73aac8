"""windowed_history (sql/functions/history.sql), the history of a session type with history_window_messages:
system messages kept, a summary only when it covers a message of the path and something is left out, the
last N messages the backend sees, and the counts."""
import json
import uuid

from psycopg.types.json import Jsonb

from app import ids
from app.chat import exchanges, posting
from app.db import queries as q


def post(database, caller, session_id, role, text, **flags):
    return posting.post_message(database, caller, session_id, role, [{"type": "text", "text": text}], **flags)["id"]


def window(conn, session_id, leaf, size, summary=None):
    row = q.windowed_history(conn, session_id=session_id, leaf=leaf, window=size,
                             summary=Jsonb(summary) if summary is not None else None)
    return [item["content"] if isinstance(item["content"], str) else item["content"][0]["text"]
            for item in json.loads(row["history"])], row["history_window"]


def summary_of(message_id, text="so far", is_complete=True):
    return {"summary_id": ids.message_gts(uuid.uuid4()), "text": text, "is_complete": is_complete,
            "covers_through_message_id": ids.message_gts(message_id), "created_at": "2026-12-04T10:00:00Z",
            "path_messages": 3}


def test_the_window_keeps_system_messages_and_counts_what_it_leaves_out(database, caller, make_session, conn):
    session_id = make_session()
    assert window(conn, session_id, None, 3) == ([], {"window_messages": 3, "omitted_messages": 0,
                                                      "summary_id": None, "uncovered_messages": 0})
    post(database, caller, session_id, "system", "prompt", hidden_from_user=True)
    for n in range(1, 6):
        post(database, caller, session_id, "user" if n % 2 else "assistant", f"m{n}")
    post(database, caller, session_id, "user", "a note", hidden_from_backend=True)  # never history
    late_system = post(database, caller, session_id, "system", "late rule")
    leaf = post(database, caller, session_id, "user", "m6")

    assert window(conn, session_id, leaf, 100)[0] == ["prompt", "m1", "m2", "m3", "m4", "m5", "late rule", "m6"]
    history, counts = window(conn, session_id, leaf, 3)
    assert history == ["prompt", "m5", "late rule", "m6"]  # a system message inside the window stays in place
    assert counts == {"window_messages": 3, "omitted_messages": 4, "summary_id": None, "uncovered_messages": 4}
    assert window(conn, session_id, late_system, 1)[0] == ["prompt", "late rule"]


def test_a_summary_is_sent_only_when_it_covers_this_path_is_complete_and_something_is_left_out(
        database, caller, make_session, conn):
    session_id = make_session()
    _, second, third = (post(database, caller, session_id, "user", f"m{n}") for n in range(1, 4))
    summary = summary_of(second)
    history, counts = window(conn, session_id, third, 1, summary)
    assert history == ["so far", "m3"] and counts["summary_id"] == summary["summary_id"]
    assert counts["omitted_messages"] == 2 and counts["uncovered_messages"] == 0
    first = q.ancestor_path(conn, session_id=session_id, message_id=second)[0]["id"]
    stale = window(conn, session_id, third, 1, summary_of(first))[1]  # covers m1 only: m2 is neither sent
    assert stale["summary_id"] is not None and stale["uncovered_messages"] == 1

    assert window(conn, session_id, third, 5, summary)[0] == ["m1", "m2", "m3"]  # nothing left out
    assert window(conn, session_id, third, 1, summary_of(uuid.uuid4()))[0] == ["m3"]  # not on this path
    assert window(conn, session_id, third, 1, summary_of(second, is_complete=False))[0] == ["m3"]
    assert window(conn, session_id, third, 1, summary_of(second, text=""))[0] == ["m3"]
    assert window(conn, session_id, third, 1, {"text": 42})[0] == ["m3"]  # metadata a client wrote over


def test_a_summary_is_due_once_the_path_grew_the_setting_past_the_last_one():
    session = {"auto_summary_every_messages": 4, "metadata": {}}
    assert not exchanges.summary_due(session, 3) and exchanges.summary_due(session, 4)
    session["metadata"] = {"summary": {"path_messages": 10}}
    assert not exchanges.summary_due(session, 13) and exchanges.summary_due(session, 14)
    assert exchanges.summary_due(session, 10)  # no longer than the path summarized: checked exactly at the start
    path = [{"id": uuid.UUID(int=n)} for n in range(6)]
    session["metadata"] = {"summary": {"covers_through_message_id": ids.message_gts(path[1]["id"])}}
    assert exchanges.summary_due_on(session, path) and not exchanges.summary_due_on(session, path[:5])
    session["metadata"] = {"summary": {"covers_through_message_id": ids.message_gts(uuid.uuid4())}}
    assert exchanges.summary_due_on(session, path[:4]) and not exchanges.summary_due_on(session, path[:3])
    for overwritten in ("ten", True, None, [10]):  # what a client may have PATCHed there counts as none
        assert exchanges.summarized_path({"summary": {"path_messages": overwritten}}) == 0
    assert exchanges.summarized_path({"summary": "text"}) == 0
    assert not exchanges.summary_due({"auto_summary_every_messages": None, "metadata": {}}, 100)

"""app/chat/paths.py against the real database: the history items PostgreSQL renders when a message is written
(messages.history_item) are the webhook's Message shape, and leave out what a backend never sees."""
import json
from datetime import datetime

from app import ids
from app.chat import paths, posting


def post(database, caller, session_id, role, text, **flags):
    return posting.post_message(database, caller, session_id, role, [{"type": "text", "text": text}], **flags)


def test_history_items_are_webhook_messages_without_what_the_backend_must_not_see(database, caller, make_session,
                                                                                    conn):
    session_id = make_session()
    system = post(database, caller, session_id, "system", "be brief", hidden_from_user=True)
    post(database, caller, session_id, "user", "a note", hidden_from_backend=True)
    question = post(database, caller, session_id, "user", "ünïcode \"quoted\" question")
    conn.execute("UPDATE messages SET file_ids = %s WHERE id = %s",
                 (["0e4b1c9e-3f7a-4c52-9d1e-2a6f5b8c7d90"], question["id"]))

    path = paths.active(conn, session_id)
    assert [row["id"] for row in path][-1] == question["id"]
    items = [json.loads(text) for text in paths.history(path)]  # each one valid JSON text on its own

    assert [item["role"] for item in items] == ["system", "user"]  # the note hidden from the backend is left out
    first, second = items
    assert first["message_id"] == ids.message_gts(system["id"]) and first["parent_message_id"] is None
    assert first["session_id"] == ids.session_gts(session_id)
    assert first["content"] == [{"type": "text", "text": "be brief"}] and first["file_ids"] == []
    assert second["content"][0]["text"] == "ünïcode \"quoted\" question"
    assert second["file_ids"] == ["0e4b1c9e-3f7a-4c52-9d1e-2a6f5b8c7d90"]
    assert second["parent_message_id"].startswith(ids.MESSAGE_PREFIX)
    assert datetime.fromisoformat(second["created_at"]) >= datetime.fromisoformat(first["created_at"])
    assert set(first) == {"message_id", "session_id", "role", "content", "parent_message_id", "metadata",
                          "file_ids", "created_at"}


def test_an_empty_placeholder_is_not_history(database, caller, make_session, conn):
    session_id = make_session()
    post(database, caller, session_id, "user", "hello")
    conn.execute("INSERT INTO messages (id, session_id, parent_id, role, variant_index, is_active, is_complete) "
                 "SELECT gen_random_uuid(), session_id, id, 'assistant', 0, true, false FROM messages "
                 "WHERE session_id = %s", (session_id,))
    path = paths.active(conn, session_id)
    assert len(path) == 2 and len(paths.history(path)) == 1


def test_a_send_s_path_read_builds_no_json_per_message(conn, make_session):
    """Items are rendered when a message is written and read as stored text: building them on every read
    made PostgreSQL's cost per exchange grow with every message of the conversation."""
    from app.db import queries as q

    send_path = "SELECT * FROM owner_path(%(session_id)s)"  # what send_turn reads
    partitioned = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'messages'").fetchone()["relkind"] == "p"
    if partitioned:
        # Hash-partitioned (CHAT_ENGINE_TEST_PARTITIONS): a partition of the suite's few rows is scanned whole, or
        # through another of its indexes, by the planner's own choice; asked here: the walk probes an index.
        conn.execute("SET LOCAL enable_seqscan = off")
    for sql, params in ((q.active_path.sql, {"session_id": make_session()}),
                        (q.recipient_path.sql, {"session_id": make_session(), "recipient": "bob"}),
                        (send_path, {"session_id": make_session()})):
        plan = "\n".join(row["QUERY PLAN"] for row in conn.execute("EXPLAIN (VERBOSE) " + sql, params))
        assert "history_item" in plan and ("messages_one_active_sibling" in plan
                                           or partitioned and "Index" in plan and "Seq Scan" not in plan), plan
        assert not any(work in plan for work in ("json_build_object", "webhook_history_item", "to_char")), plan
        assert "Function Scan" not in plan, plan  # the walk and active_child inlined, not called per level
    # The common send reads its path through the same function (sql/functions/sends.sql).
    source = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'send_turn'").fetchone()["prosrc"]
    assert "owner_path(p_session_id)" in source and "webhook_history_item" not in source


def test_an_item_follows_what_it_shows(database, caller, make_session, conn):
    """Finishing a reply, changing files or metadata, hiding from the backend: the stored item is rendered
    again (the trigger), and the tree's invariant check compares every item with a fresh rendering."""
    session_id = make_session()
    question = post(database, caller, session_id, "user", "hello")
    reply = conn.execute("INSERT INTO messages (id, session_id, parent_id, role, variant_index, is_active, "
                         "is_complete) VALUES (gen_random_uuid(), %s, %s, 'assistant', 0, true, false) "
                         "RETURNING id, history_item", (session_id, question["id"])).fetchone()
    assert reply["history_item"] is None  # an empty placeholder
    conn.execute("UPDATE messages SET content = '[{\"type\": \"text\", \"text\": \"hi there\"}]', "
                 "metadata = '{\"usage\": 3}', is_complete = true WHERE id = %s", (reply["id"],))
    item = json.loads(paths.history(paths.active(conn, session_id))[-1])
    assert item["content"][0]["text"] == "hi there" and item["metadata"] == {"usage": 3}
    conn.execute("UPDATE messages SET is_hidden_from_llm = true WHERE id = %s", (reply["id"],))
    assert len(paths.history(paths.active(conn, session_id))) == 1


def test_a_send_reads_a_long_path_in_order_and_places_its_turn_below_the_leaf(conn, make_session):
    """send_turn feeds its aggregates from one sorted walk (no ORDER BY inside them): the history is the
    path root first, the new user message goes below the leaf, after a share recipient's branch there."""
    import uuid

    from psycopg.types.json import Jsonb

    from app.db import queries as q

    session_id, parent, chain = make_session(), None, []
    for index in range(120):
        parent = conn.execute(
            "INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active) "
            "VALUES (gen_random_uuid(), %s, %s, %s, %s, 0, true) RETURNING id",
            (session_id, parent, "assistant" if index % 2 else "user",
             Jsonb([{"type": "text", "text": f"message {index}"}]))).fetchone()["id"]
        chain.append(parent)
    conn.execute("INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active, "
                 "recipient_client_id) VALUES (gen_random_uuid(), %s, %s, 'user', %s, 0, true, 'bob')",
                 (session_id, parent, Jsonb([{"type": "text", "text": "bob's branch"}])))

    user_id, reply_id = uuid.uuid4(), uuid.uuid4()
    placed = q.send_turn(conn, session_id=session_id, client_id="alice", check_busy=True, user_message_id=user_id,
                         assistant_message_id=reply_id, content=Jsonb([{"type": "text", "text": "next"}]),
                         file_ids=[], resumable=False, lease_seconds=20)

    history = json.loads(placed["history"])
    assert [item["content"][0]["text"] for item in history] == [f"message {index}" for index in range(120)]
    assert [item["message_id"] for item in history] == [ids.message_gts(message) for message in chain]
    rows = {row["id"]: row for row in conn.execute(
        "SELECT id, parent_id, variant_index, is_active FROM messages WHERE id = ANY(%s)", ([user_id, reply_id],))}
    assert rows[user_id]["parent_id"] == chain[-1] and rows[user_id]["variant_index"] == 1
    assert rows[reply_id]["parent_id"] == user_id and rows[reply_id]["is_active"]
    assert [row["id"] for row in paths.active(conn, session_id)][-2:] == [user_id, reply_id]
    live = conn.execute("SELECT count(*) AS n FROM live_replies WHERE message_id = %s", (reply_id,)).fetchone()
    assert live["n"] == 1


def test_the_previous_release_s_send_function_still_places_turns(conn, make_session):
    """Replicas of the previous release call continue_active_path (11 arguments) during a rolling upgrade: it
    is send_turn under the old signature."""
    import uuid

    from psycopg.types.json import Jsonb

    session_id, sent = make_session(), []
    for text in ("first", "second"):
        user_id, reply_id = uuid.uuid4(), uuid.uuid4()
        row = conn.execute("SELECT * FROM continue_active_path(%s, 'alice', false, %s, %s, %s, '{}', false, 20, "
                           "'ignored', 'ignored')",
                           (session_id, user_id, reply_id, Jsonb([{"type": "text", "text": text}]))).fetchone()
        assert row["placed"] and row["deactivated"] == 0 and row["busy_message_id"] is None
        sent.append((user_id, reply_id, json.loads(row["history"])))
        conn.execute("DELETE FROM live_replies WHERE message_id = %s", (reply_id,))
        conn.execute("UPDATE messages SET content = %s, is_complete = true WHERE id = %s",
                     (Jsonb([{"type": "text", "text": "ok"}]), reply_id))
    assert sent[0][2] == [] and [item["content"][0]["text"] for item in sent[1][2]] == ["first", "ok"]
    assert [row["id"] for row in paths.active(conn, session_id)] == [sent[0][0], sent[0][1], sent[1][0], sent[1][1]]

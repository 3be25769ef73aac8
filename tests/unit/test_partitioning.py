"""Session keys (migration 026) and hash partitioning by session (sql/functions/partitioning.sql), on databases of
their own beside the suite's: a database filled as the release before 026 left it, upgraded, then partitioned."""
import os
import re
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app import migrations
from app.chat.replies import chunk_rows
from app.db import checks, queries as q

CHECKS = checks()
SESSION_TYPE = "gts.hyperspot.chat_engine.session_types.partitioning.v1~"
PER_SESSION = ("messages", "reactions", "live_replies", "reply_chunks", "queued_replies", "share_tokens", "exports",
               "summary_runs")


def _create_database(server_url):
    name = f"partitioning_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_url, dbname=name)


def _upgrade_to_025(url):
    """The schema as the release before the session keys left it: migrations up to 025 (their own stand-ins for
    the trigger functions; the function files are this release's)."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        for filename in migrations.available():
            if filename[:3] > "025":
                break
            with open(os.path.join(migrations.MIGRATIONS_DIR, filename), encoding="utf-8") as handle:
                conn.execute(handle.read())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (filename[:-4],))


def _fill_old_shape(conn):
    """Two sessions as the release before 026 wrote them: a branched tree, a reaction, chunk rows, a live reply,
    a queued one, a share, an export, a summary run. Returns {session id: [message ids]}."""
    conn.execute("INSERT INTO session_types (id, name, webhook_url) VALUES (%s, 'p', 'http://127.0.0.1:9/')",
                 (SESSION_TYPE,))
    sessions = {}
    for _ in range(2):
        session_id = uuid.uuid4()
        conn.execute("INSERT INTO sessions (id, client_id, session_type_id) VALUES (%s, 'alice', %s)",
                     (session_id, SESSION_TYPE))
        root, reply, variant, live, queued = (uuid.uuid4() for _ in range(5))
        for id_, parent, role, index, active, complete in (
                (root, None, "user", 0, True, True), (reply, root, "assistant", 0, False, True),
                (variant, root, "assistant", 1, True, True), (live, variant, "user", 0, True, True),
                (queued, live, "assistant", 0, True, False)):
            conn.execute("INSERT INTO messages (id, session_id, parent_id, role, content, variant_index, is_active, "
                         "is_complete) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (id_, session_id, parent, role, Jsonb([{"type": "text", "text": "hello"}]), index, active,
                          complete))
        conn.execute("INSERT INTO reactions (message_id, user_id, reaction_type) VALUES (%s, 'bob', 'like')",
                     (variant,))
        conn.execute("INSERT INTO reply_chunks (message_id, first_index, chunks) VALUES (%s, 0, '[]'), "
                     "(%s, 1, '[]')", (variant, variant))
        conn.execute("INSERT INTO queued_replies (message_id, session_id, user_message_id, enabled_capabilities) "
                     "VALUES (%s, %s, %s, '[]')", (queued, session_id, live))
        conn.execute("INSERT INTO share_tokens (id, session_id, token_hash) VALUES (%s, %s, %s)",
                     (uuid.uuid4(), session_id, os.urandom(32)))
        conn.execute("INSERT INTO exports (id, session_id, client_id, format, scope, content_type, body, size_bytes, "
                     "expires_at) VALUES (%s, %s, 'alice', 'json', 'all', 'application/json', '', 0, "
                     "now() + interval '1 day')", (uuid.uuid4(), session_id))
        conn.execute("INSERT INTO summary_runs (session_id) VALUES (%s)", (session_id,))
        conn.execute("INSERT INTO live_replies (message_id, session_id, lease_expires_at) "
                     "VALUES (%s, %s, now() + interval '1 minute')", (reply, session_id))
        sessions[session_id] = [root, reply, variant, live, queued]
    return sessions


def _counts(conn):
    return {table: conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] for table in PER_SESSION}


def _keys(conn):
    """Every primary, unique and foreign key of the per-session tables, as (table, definition); a partition's own
    exclusion constraint counted as its table's."""
    rows = conn.execute(
        "SELECT coalesce(p.relname, c.relname) AS tab, pg_get_constraintdef(k.oid) AS def, k.contype "
        "  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "  LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent "
        " WHERE k.contype IN ('p', 'u', 'f', 'x') AND k.conparentid = 0 "
        "   AND coalesce(p.relname, c.relname) = ANY(%s)", (list(PER_SESSION),)).fetchall()
    return {(row["tab"], row["def"]) for row in rows}


@pytest.fixture(scope="module")
def upgraded(postgres_url):
    """A database filled before 026, then upgraded to this release: (url, sessions, keys and counts after 026)."""
    url = _create_database(postgres_url)
    _upgrade_to_025(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        sessions = _fill_old_shape(conn)
    assert migrations.upgrade(url) == ["026_session_keys"]
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        keys, counts = _keys(conn), _counts(conn)
    yield url, sessions, keys, counts
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{conninfo_to_dict(url)["dbname"]}" WITH (FORCE)')


@pytest.fixture(scope="module")
def partitioned(upgraded):
    url, sessions, keys, counts = upgraded
    assert migrations.partition(url, 4) == list(PER_SESSION)
    return url, sessions, keys, counts


def test_026_copies_each_reply_s_session_onto_its_reactions_and_chunks_and_keys_every_table_by_session(upgraded):
    url, sessions, keys, counts = upgraded
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        for table in ("reactions", "reply_chunks"):
            wrong = conn.execute(f"SELECT count(*) AS n FROM {table} t JOIN messages m ON m.id = t.message_id "
                                 "WHERE t.session_id IS DISTINCT FROM m.session_id").fetchone()["n"]
            assert wrong == 0
        assert counts == {"messages": 10, "reactions": 2, "live_replies": 2, "reply_chunks": 4, "queued_replies": 2,
                          "share_tokens": 2, "exports": 2, "summary_runs": 2}
        assert not any(CHECKS.tree_violations(conn).values())
    primary = {table: definition for table, definition in keys if definition.startswith("PRIMARY KEY")}
    assert all(primary[table].startswith("PRIMARY KEY (session_id") for table in PER_SESSION)
    for table, definition in keys:
        if definition.startswith(("UNIQUE", "EXCLUDE")):
            assert "session_id" in definition, (table, definition)
        if definition.startswith("FOREIGN KEY") and "REFERENCES sessions" not in definition:
            assert definition.startswith("FOREIGN KEY (session_id, ") and "(session_id, id)" in definition
    assert ("share_tokens", "UNIQUE (token_hash, session_id)") in keys


def test_partitioning_keeps_every_row_key_and_trigger_and_is_done_once(partitioned):
    url, sessions, keys, counts = partitioned
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        assert _counts(conn) == counts
        assert _keys(conn) == keys
        kinds = {row["relname"]: row["relkind"] for row in conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)", (list(PER_SESSION),))}
        assert kinds == {table: "p" for table in PER_SESSION}
        triggers = {row["tgname"] for row in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal")}
        assert triggers == {"messages_tree_position_immutable", "messages_history_item_on_insert",
                            "messages_history_item_on_update", "messages_feed_insert", "messages_feed_update",
                            "messages_feed_delete"}
        assert conn.execute("SELECT count(*) AS n FROM messages_p0").fetchone()["n"] < counts["messages"]
        assert not any(CHECKS.tree_violations(conn).values())
    assert migrations.partition(url, 4) == []  # already partitioned: nothing to do
    assert migrations.upgrade(url) == []  # the function files apply on the partitioned layout too


def test_on_the_partitioned_layout_the_tree_rules_hold_and_a_session_s_delete_takes_everything(partitioned):
    url, sessions, _, _ = partitioned
    doomed, kept = list(sessions)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        root = sessions[doomed][0]
        with pytest.raises(psycopg.errors.ExclusionViolation), conn.transaction():  # a second active sibling
            conn.execute("INSERT INTO messages (id, session_id, parent_id, role, variant_index, is_active) "
                         "VALUES (gen_random_uuid(), %s, %s, 'assistant', 2, true)", (doomed, root))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # a parent in another session
            conn.execute("INSERT INTO messages (id, session_id, parent_id, role, variant_index, is_active) "
                         "VALUES (gen_random_uuid(), %s, %s, 'assistant', 0, true)", (kept, root))
        with pytest.raises(psycopg.errors.CheckViolation):  # a message's place is immutable (the trigger)
            conn.execute("UPDATE messages SET variant_index = 5 WHERE session_id = %s AND id = %s", (doomed, root))
        conn.execute("DELETE FROM sessions WHERE id = %s", (doomed,))
        for table in PER_SESSION:
            left = conn.execute(f"SELECT count(*) AS n FROM {table} WHERE session_id = %s", (doomed,)).fetchone()
            assert left["n"] == 0, table
            assert conn.execute(f"SELECT count(*) AS n FROM {table} WHERE session_id = %s",
                                (kept,)).fetchone()["n"] > 0, table
        assert not any(CHECKS.tree_violations(conn).values())


def _partitions_read(conn, statement, params):
    """The partitions a statement's generic plan reads, as PostgreSQL runs it after a prepared statement's fifth
    call: PREPAREd with its named parameters as $n, run under EXPLAIN ANALYZE with force_generic_plan (and rolled
    back)."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    prepared = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", statement)
    name = f"hot_{uuid.uuid4().hex[:8]}"
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE {name} AS {prepared}")
        literals = psycopg.sql.SQL(", ").join(psycopg.sql.Literal(params[n]) for n in names)
        plan = [row["QUERY PLAN"] for row in conn.execute(psycopg.sql.SQL(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE {} ({})").format(
                psycopg.sql.Identifier(name), literals))]
        conn.execute(f"DEALLOCATE {name}")
    return {match.group(1) for line in plan if "never executed" not in line
            for match in [re.search(r"Scan\b.*? on (\w+_p\d+)\b", line)] if match}, plan


def test_the_hot_statements_read_one_partition_each_with_generic_plans(partitioned):
    """Pruning at run time (a generic plan knows no session): each of the send's and the reply's statements reads
    the one partition of its session in each table, whatever the depth of the walk."""
    url, sessions, _, _ = partitioned
    session_id = list(sessions)[-1]
    root, _, variant, live, queued = sessions[session_id]
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        own = conn.execute("SELECT tableoid::regclass::text AS part FROM messages WHERE id = %s",
                           (root,)).fetchone()["part"]
        suffix = own.rsplit("_", 1)[1]
        conn.execute("INSERT INTO live_replies (message_id, session_id, lease_expires_at) "
                     "VALUES (%s, %s, now() + interval '1 minute')", (variant, session_id))
        params = {"session_id": session_id, "message_id": variant, "client_id": "alice", "content": Jsonb([]),
                  "is_complete": True, "metadata": Jsonb({}), "batches": chunk_rows(0, [{"type": "text"}]),
                  "offset": 0, "max_batches": 8, "max_chunks": 100, "max_bytes": 10**6, "judge_settle": None,
                  "lapsed_only": False, "reason": "cancelled", "message_ids": [variant], "session_ids": [session_id],
                  "lease_seconds": 30}
        hot = {"owner_path (send_turn)": "SELECT * FROM owner_path(%(session_id)s)",
               "busy check (send_turn)": "SELECT l.message_id FROM live_replies l JOIN messages m "
                                         "ON m.session_id = %(session_id)s AND m.id = l.message_id "
                                         "WHERE l.session_id = %(session_id)s AND m.is_active",
               **{name: getattr(q, name).sql for name in (
                   "finish_live_reply", "append_reply_chunks", "reply_state", "live_reply", "request_stop",
                   "active_path", "finish_assistant_message", "variant_place", "claim_live_reply")}}
        for label, statement in hot.items():
            read, plan = _partitions_read(conn, statement, params)
            assert read and all(part.endswith("_" + suffix) for part in read), (label, read, "\n".join(plan))
            assert len(read) == len({part.rsplit("_", 1)[0] for part in read}), (label, read)

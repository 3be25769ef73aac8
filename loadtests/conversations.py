"""Conversations of a given length for the benchmarks: each session a chain of messages, user and assistant in
turn, about 300 characters each, complete and active, written with COPY (triggers fire as for any insert)."""
import datetime
import json
import random
import uuid

from psycopg.rows import tuple_row

WORDS = "river mountain coffee garden rocket violin planet harbor lantern meadow".split()


def write_chains(conn, session_ids, depth, seed=0):
    """`depth` messages in each session, oldest first; returns [(session id, its leaf)] (sessions given
    no messages are left out). The caller's connection is in autocommit mode: one transaction here."""
    rng, leaves = random.Random(seed), []
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=depth)
    with conn.transaction(), conn.cursor().copy(
            "COPY messages (id, session_id, parent_id, role, content, variant_index, is_active, is_complete, "
            "created_at) FROM STDIN") as copy:
        for session_id in session_ids:
            parent = None
            for index in range(depth):
                text = " ".join(rng.choice(WORDS) for _ in range(45))[:300]
                message_id = uuid.uuid4()
                copy.write_row((message_id, session_id, parent, "assistant" if index % 2 else "user",
                                json.dumps([{"type": "text", "text": text}]), 0, True, True,
                                start + datetime.timedelta(milliseconds=index)))
                parent = message_id
            if parent is not None:
                leaves.append((session_id, parent))
    return leaves


def point_relay_leaves(conn, leaves):
    """The baseline relay's leaf pointers (loadtests/sql/relay.sql), when its table exists."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        if cursor.execute("SELECT to_regclass('relay_leaves') IS NOT NULL").fetchone()[0]:
            cursor.executemany("INSERT INTO relay_leaves (session_id, leaf_id) VALUES (%s, %s)", leaves)

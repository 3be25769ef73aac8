"""app/streams/rejoin.py: a rejoin or replay reads a reply in bounded pieces, in one rolled-back
transaction. Whatever the offset, the reply's size or its batches' and chunks' sizes, the chunks
concatenate to the stored reply, and no read takes more than its byte cap plus one chunk's head."""
import json
import uuid

import pytest
from psycopg.types.json import Jsonb

from app.chat import exchanges, session_types
from app.db import queries as q
from app.metrics import get_metrics
from app.streams import outcomes, rejoin
from app.streams.rejoin import READ_BATCHES, Rejoin
from app.webhooks.client import WebhookClient
from support.inprocess import make_config, session_of


@pytest.fixture
def reply(conn, database, caller):
    """A live reply of a fresh session, ready for chunk batches and an end."""
    type_row = session_types.create(database, {"name": f"t_{uuid.uuid4().hex[:10]}",
                                               "webhook_url": "http://127.0.0.1:9/"})
    session_id = q.insert_session(conn, id=uuid.uuid4(), client_id=caller.client_id, session_type_id=type_row["id"],
                                  capabilities=Jsonb([]), metadata=Jsonb({}))["id"]
    return exchanges.start_send(database, WebhookClient(make_config(), get_metrics()), caller, session_id, "q")


def text_chunk(text):
    return {"type": "text", "content": text}


def store_batches(conn, message_id, batches):
    """Stores chunk batches as the chunk log does; returns every chunk in order."""
    first, every = 0, []
    for batch in batches:
        # Exactly these rows, as stored before rows were bounded too.
        q.append_reply_chunks(conn, session_id=session_of(conn, message_id), message_id=message_id,
                              batches=Jsonb([{"first_index": first, "chunks": batch}]))
        first += len(batch)
        every += batch
    return every


@pytest.fixture
def reads(monkeypatch):
    """Every page a rejoin reads: the chunks (or parts) each read brought, as stored JSON text."""
    taken = []
    for name, key in (("reply_state", "chunks"), ("reply_parts_page", "parts")):
        query = getattr(q, name)

        def spy(conn, _query=query, _key=key, **params):
            row = _query(conn, **params)
            if row is not None:
                taken.append(json.dumps(row[_key], separators=(",", ":"), ensure_ascii=False))
            return row
        monkeypatch.setattr(q, name, spy)
    return taken


def replay(database, message_id, offset=0, read_bytes=rejoin.READ_BYTES):
    lines = b"".join(Rejoin(database, None, message_id, offset=offset, read_bytes=read_bytes).lines())
    return [json.loads(line) for line in lines.splitlines()]


def contents(events):
    return [e["chunk"]["content"] for e in events if e["type"] == "chunk"]


@pytest.mark.parametrize("offset", [0, 1, 7, 30, 59, 60, 61])
def test_many_batches_are_read_a_bounded_page_at_a_time_from_any_offset(conn, database, reply, reads, offset):
    every = store_batches(conn, reply.message_id, [[text_chunk(f"{b}.{i}:" + "x" * 90) for i in range(6)]
                                                   for b in range(10)])
    reply.save([{"type": "text", "text": "".join(c["content"] for c in every)}], {}, outcomes.COMPLETE)
    events = replay(database, reply.message_id, offset=offset, read_bytes=1000)
    assert events[0]["type"] == "start" and events[-1]["type"] == "complete"
    assert contents(events) == [c["content"] for c in every[offset:]]
    assert len(reads) > 1 or offset >= 59
    assert all(len(page.encode()) <= 1000 + 200 for page in reads)  # the cap plus the chunk that crosses it


def test_a_read_stops_at_its_batch_and_chunk_caps(conn, reply):
    store_batches(conn, reply.message_id, [[text_chunk(str(i))] for i in range(READ_BATCHES + 5)])
    page = q.reply_state(conn, session_id=reply.session_id, message_id=reply.message_id,
                         offset=3, max_batches=READ_BATCHES, max_chunks=1000,
                         max_bytes=10**6)
    assert [c["content"] for c in page["chunks"]] == [str(i) for i in range(3, 3 + READ_BATCHES)]
    assert page["more"] is True and page["live"] is True
    page = q.reply_state(conn, session_id=reply.session_id, message_id=reply.message_id,
                         offset=3, max_batches=READ_BATCHES, max_chunks=10,
                         max_bytes=10**6)
    assert [c["content"] for c in page["chunks"]] == [str(i) for i in range(3, 13)] and page["more"] is True
    last = q.reply_state(conn, session_id=reply.session_id, message_id=reply.message_id,
                         offset=READ_BATCHES, max_batches=READ_BATCHES,
                         max_chunks=1000, max_bytes=10**6)
    assert [c["content"] for c in last["chunks"]] == [str(i) for i in range(READ_BATCHES, READ_BATCHES + 5)]
    assert last["more"] is False
    beyond = q.reply_state(conn, session_id=reply.session_id, message_id=reply.message_id,
                           offset=1000, max_batches=READ_BATCHES, max_chunks=1000,
                           max_bytes=10**6)
    assert beyond["chunks"] == [] and beyond["more"] is False


def test_a_chunk_larger_than_a_read_is_read_and_written_in_slices(conn, database, reply, reads):
    huge = "é€𝄞 quoted \" and \\ and \n " * 2000  # multi-byte characters, escapes
    every = store_batches(conn, reply.message_id, [[text_chunk("before")],
                                                   [{"type": "code", "content": huge, "language": "py"},
                                                    text_chunk("after")]])
    reply.save([{"type": "text", "text": "x"}], {}, outcomes.COMPLETE)
    events = replay(database, reply.message_id, read_bytes=4096)
    assert contents(events) == [c["content"] for c in every]
    assert events[2]["chunk"] == {"type": "code", "content": huge, "language": "py"}
    assert max(len(page.encode()) for page in reads) < 4096 + 200
    assert contents(replay(database, reply.message_id, offset=2, read_bytes=4096)) == ["after"]


def test_without_a_chunk_log_the_content_parts_are_replayed_a_bounded_page_at_a_time(conn, database, reply, reads):
    parts = [{"type": "text", "text": f"part {i} " + "y" * 300} for i in range(20)]
    parts[5] = {"type": "code", "code": "z€" * 5000, "language": "sql"}  # larger than a read: in slices
    parts[9] = {"type": "image", "image_id": str(uuid.uuid4()), "mime_type": "image/png"}
    reply.save(parts, {}, outcomes.COMPLETE)  # no tail, no batches: a reply stored without its log
    expected = [c["content"] for c in rejoin.parts_as_chunks(parts)]
    assert contents(replay(database, reply.message_id, read_bytes=2048)) == expected
    assert max(len(page.encode()) for page in reads) < 2048 + 400
    assert contents(replay(database, reply.message_id, offset=6, read_bytes=2048)) == expected[6:]


def test_a_live_reply_is_read_up_to_its_last_stored_batch_and_the_end_follows(conn, database, reply):
    store_batches(conn, reply.message_id, [[text_chunk("a"), text_chunk("b")]])
    state = q.reply_state(conn, session_id=reply.session_id, message_id=reply.message_id,
                          offset=0, max_batches=READ_BATCHES, max_chunks=1000,
                          max_bytes=1)  # at least one chunk per read, whatever the cap
    assert state["chunks"] == [{"type": "text"}]  # larger than the cap: its content is read in slices
    assert state["more"] is True and state["live"] is True
    reply.save([{"type": "text", "text": "abc"}], {"usage": {"output_tokens": 3}}, outcomes.COMPLETE,
               (2, [text_chunk("c")]))
    events = replay(database, reply.message_id, offset=1, read_bytes=1)
    assert contents(events) == ["b", "c"]
    assert events[-1]["type"] == "complete" and events[-1]["metadata"]["usage"] == {"output_tokens": 3}


def test_a_deleted_reply_ends_the_replay_with_message_not_found(conn, database, reply):
    store_batches(conn, reply.message_id, [[text_chunk("a")]])
    reply.save([{"type": "text", "text": "a"}], {}, outcomes.COMPLETE)
    lines = Rejoin(database, None, reply.message_id, read_bytes=1).lines()
    assert json.loads(next(lines))["type"] == "start"
    conn.execute("DELETE FROM messages WHERE id = %s", (reply.message_id,))
    rest = [json.loads(line) for line in lines]
    assert rest[-1]["type"] == "error" and rest[-1]["error_code"] == "MESSAGE_NOT_FOUND"


def chunk_rows_of(conn, message_id):
    return conn.execute("SELECT count(*) AS n FROM reply_chunks WHERE message_id = %s", (message_id,)).fetchone()["n"]


def test_an_ended_reply_s_chunk_log_is_pruned_after_its_grace_and_a_rejoin_then_replays_the_message(
        conn, database, reply):
    """The sweep keeps a reply's chunks for late rejoiners (CHUNK_LOG_GRACE_SECONDS, shortened here), never
    while it streams, then deletes the whole log; a rejoin then replays the stored content."""
    from app.streams.leases import LeaseKeeper
    from support.waiting import wait_until

    keeper = LeaseKeeper(database, make_config(lease_seconds=600, chunk_log_grace_seconds=0.5))
    every = store_batches(conn, reply.message_id, [[text_chunk("one "), text_chunk("two ")], [text_chunk("three")]])
    conn.execute("UPDATE reply_chunks SET stored_at = now() - interval '1 hour' WHERE message_id = %s",
                 (reply.message_id,))  # stored long ago, but the reply still streams
    keeper.prune()
    assert chunk_rows_of(conn, reply.message_id) == 2
    reply.save([{"type": "text", "text": "one two three"}], {}, outcomes.COMPLETE)
    keeper.prune()
    assert chunk_rows_of(conn, reply.message_id) == 2  # ended just now: within its grace
    assert contents(replay(database, reply.message_id)) == [c["content"] for c in every]

    def pruned():
        keeper.prune()
        return chunk_rows_of(conn, reply.message_id) == 0
    wait_until(pruned, timeout=10, message="the chunk log pruned once its grace passed")
    events = replay(database, reply.message_id)
    assert contents(events) == ["one two three"] and events[-1]["type"] == "complete"


def test_share_links_are_deleted_once_past_their_retention(conn, database, caller, reply):
    """Revoked or expired links stop working at once and are deleted SHARE_RETENTION_DAYS later (shortened)."""
    from app.chat import shares
    from app.streams.leases import LeaseKeeper

    session_id = reply.session_id
    revoked = shares.create(database, caller, session_id, None)[1]
    kept = shares.create(database, caller, session_id, None)[1]
    shares.revoke(database, caller, session_id, revoked["id"])
    conn.execute("UPDATE share_tokens SET revoked_at = now() - interval '2 days' WHERE id = %s", (revoked["id"],))
    LeaseKeeper(database, make_config(lease_seconds=600, share_retention_days=3)).prune()
    assert {row["id"] for row in shares.list_for(database, caller, session_id)} == {revoked["id"], kept["id"]}
    LeaseKeeper(database, make_config(lease_seconds=600, share_retention_days=1)).prune()
    assert {row["id"] for row in shares.list_for(database, caller, session_id)} == {kept["id"]}


def test_a_rejoin_past_the_grace_never_continues_at_the_wrong_place(conn, database, reply, monkeypatch):
    """Offsets count chunks of the log; a replay of the stored message counts parts. Once the log is pruned,
    an offset can no longer be honoured: refused up front, or, if the log goes while a rejoin reads it,
    ended with an error line, never a `complete` after text that skipped what the client lacked."""
    every = store_batches(conn, reply.message_id, [[text_chunk(f"{i} " + "x" * 90) for i in range(6)]
                                                   for _ in range(10)])
    reply.save([{"type": "text", "text": "".join(c["content"] for c in every)}], {}, outcomes.COMPLETE)
    assert not rejoin.offset_expired(database, reply.message_id, 7, "on")  # the log is there
    original = q.reply_state

    def pruned_after_the_first_read(conn_, **params):
        state = original(conn_, **params)
        conn_.execute("DELETE FROM reply_chunks WHERE message_id = %s", (reply.message_id,))
        return state
    monkeypatch.setattr(q, "reply_state", pruned_after_the_first_read)
    events = replay(database, reply.message_id, offset=7, read_bytes=1000)
    assert events[-1]["type"] == "error" and events[-1]["error_code"] == "INVALID_REQUEST"
    assert contents(events) == [c["content"] for c in every[7:7 + len(contents(events))]]  # what came was right
    monkeypatch.setattr(q, "reply_state", original)
    assert rejoin.offset_expired(database, reply.message_id, 7, "on")  # pruned: refused before streaming
    assert not rejoin.offset_expired(database, reply.message_id, 0, "on")  # from 0, the replay is whole
    assert not rejoin.offset_expired(database, reply.message_id, 7, "off")  # without a log, offsets count parts

"""Nothing grows without bound: a real engine's sweep prunes ended replies' chunk logs once their grace has
passed (CHUNK_LOG_GRACE_SECONDS, shortened here); a rejoin from 0 then replays the stored message, and one
from a chunk offset is refused rather than continued at the wrong place."""
from support.backends import chunk, complete, ndjson, stream_answer
from support.engine import Api, read_ndjson
from support.waiting import wait_until


def test_an_ended_reply_s_chunks_are_pruned_after_the_grace_and_a_rejoin_still_reads_it(start_engine, api, backend,
                                                                                        session_type, db):
    engine = Api(start_engine(CHUNK_LOG_GRACE_SECONDS=1, LEASE_SECONDS=2).url, api.client_id)  # a sweep a second
    backend.on("message.new", lambda event, environ: stream_answer(
        iter([ndjson(chunk("kept "), chunk("for "), chunk("late "), chunk("rejoiners"), complete())])))
    session_id = api.create_session(session_type)
    events = list(read_ndjson(engine.call("POST", "/messages/send", stream=True,
                                          json={"session_id": session_id, "content": "hi"})))
    assert events[-1]["type"] == "complete"
    reply_id = events[0]["message_id"]

    def chunk_rows():
        return db.execute("SELECT count(*) AS n FROM reply_chunks c JOIN messages m ON m.id = c.message_id "
                          "WHERE m.session_id = %s", (session_id[-36:],)).fetchone()["n"]
    assert chunk_rows() >= 1  # stored with the reply's end
    early = list(read_ndjson(engine.call("GET", f"/messages/{reply_id}/stream?offset=2", stream=True)))
    assert [e["chunk"]["content"] for e in early if e["type"] == "chunk"] == ["late ", "rejoiners"]
    wait_until(lambda: chunk_rows() == 0, timeout=20, message="the chunk log pruned by the sweep")
    expired = engine.get(f"/messages/{reply_id}/stream?offset=2")  # chunk offsets mean nothing without the log
    assert expired.status_code == 400
    assert expired.json()["details"]["validation_errors"][0]["code"] == "chunk_log_expired"
    late = list(read_ndjson(engine.call("GET", f"/messages/{reply_id}/stream", stream=True)))
    assert "".join(e["chunk"]["content"] for e in late if e["type"] == "chunk") == "kept for late rejoiners"
    assert late[-1]["type"] == "complete"


def test_dead_letters_are_pruned_past_their_retention_and_pending_notices_never(start_engine, db):
    start_engine(LEASE_SECONDS=2, NOTICE_DEAD_LETTER_DAYS=1)  # a sweep a second
    rows = [("old dead letter", "2 days", "30 hours"), ("recent dead letter", "2 days", "1 hour"),
            ("pending", "2 days", None)]
    for label, age, dead_for in rows:
        db.execute("INSERT INTO webhook_notices (event_id, session_type_id, event, body, created_at, due_at, dead_at) "
                   "VALUES (gen_random_uuid(), 'gone', %s, '{}', now() - %s::interval, now() + interval '1 day', "
                   "now() - %s::interval)", (label, age, dead_for))
    wait_until(lambda: db.execute("SELECT count(*) AS n FROM webhook_notices").fetchone()["n"] == 2, timeout=20,
               message="the old dead letter pruned")
    kept = {r["event"] for r in db.execute("SELECT event FROM webhook_notices")}
    assert kept == {"recent dead letter", "pending"}

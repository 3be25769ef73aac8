"""`if_busy: enqueue` (issue 25 §2): a message sent while a reply streams is stored at once and its reply
starts when that one ends, on whichever instance ends it, even if its sender has gone."""
from support.backends import gate, words_answer
from support.engine import Api, read_ndjson
from support.feeds import Follower
from support.waiting import wait_until


def held_replies(backend):
    """Each reply streams "reply n", pausing after its first chunk until its own gate is set."""
    gates = []

    def answer(event, environ):
        gates.append(gate())
        return words_answer([f"reply {len(gates)}", " done"], gate=gates[-1])
    backend.on("message.new", answer)
    return gates


def open_send(api, session_id, content, **body):
    return api.call("POST", "/messages/send", stream=True,
                    json={"session_id": session_id, "content": content, **body})


def texts(messages):
    return [m["content"][0]["text"] if m["content"] else "" for m in messages]


def test_a_queued_message_is_stored_at_once_and_its_reply_streams_when_the_running_one_ends(
        api, backend, session_type, contract):
    gates = held_replies(backend)
    session_id = api.create_session(session_type)
    follower = Follower(api)  # the change feed tells a waiting reply from a started one
    wait_until(lambda: follower.lines, message="the feed line")
    running = open_send(api, session_id, "first")
    first = read_ndjson(running)
    start = next(first)
    wait_until(lambda: gates, message="the first reply streaming")

    queued = open_send(api, session_id, "second", if_busy="enqueue")
    assert queued.status_code == 200 and queued.headers["X-Chat-Engine-Queued"] == "true"
    assert queued.headers["X-Chat-Engine-Waits-For"] == start["message_id"]
    waiting = read_ndjson(queued)
    queued_start = next(waiting)
    assert queued_start["type"] == "start"
    # Stored already: the path ends in the second message and its empty reply, below the running one.
    assert texts(api.path(session_id))[-2:] == ["second", ""]
    assert len(backend.events("message.new")) == 1  # not sent yet

    gates[0].set()
    assert [e["type"] for e in first][-1] == "complete"
    wait_until(lambda: len(gates) == 2, message="the queued reply started")
    history = backend.events("message.new")[-1]["history"]
    assert [h["content"][0]["text"] for h in history] == ["first", "reply 1 done"]  # the finished reply
    gates[1].set()
    events = list(waiting)
    contract.validate_stream([queued_start, *events])
    assert events[-1]["type"] == "complete"
    assert "".join(e["chunk"]["content"] for e in events if e["type"] == "chunk") == "reply 2 done"
    assert texts(api.path(session_id)) == ["first", "reply 1 done", "second", "reply 2 done"]
    queued_id = queued.headers["X-Assistant-Message-Id"]
    follower.wait_for("reply.queued")
    about_it = [line["type"] for line in follower.lines if line.get("message_id") == queued_id]
    wait_until(lambda: [line["type"] for line in follower.lines if line.get("message_id") == queued_id][:3]
               == ["reply.queued", "reply.started", "reply.ended"], message="queued, started, ended on the feed")
    assert about_it[0] == "reply.queued"
    follower.close()


def test_a_queued_reply_runs_after_its_sender_has_gone_and_a_rejoin_finds_it(api, backend, session_type):
    gates = held_replies(backend)
    session_id = api.create_session(session_type)
    running = open_send(api, session_id, "first")
    next(read_ndjson(running))
    wait_until(lambda: gates, message="the first reply streaming")
    queued = open_send(api, session_id, "second", if_busy="enqueue")
    reply_id = queued.headers["X-Assistant-Message-Id"]
    queued.close()  # the sender leaves

    gates[0].set()
    list(read_ndjson(running))
    wait_until(lambda: len(gates) == 2, message="the queued reply started without its sender")
    gates[1].set()
    late = list(read_ndjson(api.call("GET", f"/messages/{reply_id}/stream", stream=True)))
    assert late[-1]["type"] == "complete"
    assert "".join(e["chunk"]["content"] for e in late if e["type"] == "chunk") == "reply 2 done"


def test_the_queue_is_bounded_and_a_waiting_reply_can_be_cancelled(api, backend, session_type, contract):
    gates = held_replies(backend)
    session_id = api.create_session(session_type)
    running = open_send(api, session_id, "first")
    next(read_ndjson(running))
    wait_until(lambda: gates, message="the first reply streaming")
    waiting = [open_send(api, session_id, f"queued {n}", if_busy="enqueue") for n in range(3)]
    assert all(r.headers.get("X-Chat-Engine-Queued") == "true" for r in waiting)
    assert waiting[1].headers["X-Chat-Engine-Waits-For"] == waiting[0].headers["X-Assistant-Message-Id"]
    full = open_send(api, session_id, "one too many", if_busy="enqueue")
    contract.validate_error(full, 409, "INVALID_REQUEST")
    assert full.json()["details"]["validation_errors"][0]["code"] == "queue_full"

    cancelled = waiting[1].headers["X-Assistant-Message-Id"]
    assert api.post(f"/messages/{cancelled}/stop").json()["stopped"] is True
    cancelled_events = list(read_ndjson(waiting[1]))
    assert cancelled_events[-1]["type"] == "error"

    for index in range(3):  # the first reply, then the two still queued, in order
        wait_until(lambda index=index: len(gates) > index, message=f"reply {index + 1} started")
        gates[index].set()
    assert list(read_ndjson(waiting[2]))[-1]["type"] == "complete"
    assert len(backend.events("message.new")) == 3  # the cancelled one never reached the backend
    stored = {m["message_id"]: m for m in api.path(session_id)}
    assert cancelled not in stored or stored[cancelled]["metadata"]["stop_reason"] == "cancelled"


def test_stopping_the_running_reply_starts_the_queued_one_on_another_instance(
        api, backend, session_type, start_engine):
    gates = held_replies(backend)
    session_id = api.create_session(session_type)
    running = open_send(api, session_id, "first")
    next(read_ndjson(running))
    wait_until(lambda: gates, message="the first reply streaming")
    elsewhere = Api(start_engine().url, api.client_id)
    queued = open_send(elsewhere, session_id, "second", if_busy="enqueue")
    assert queued.headers["X-Chat-Engine-Queued"] == "true"
    first_reply = running.headers["X-Assistant-Message-Id"]
    assert elsewhere.post(f"/messages/{first_reply}/stop").json()["stopped"] is True
    wait_until(lambda: len(gates) == 2, message="the queued reply started once the first stopped")
    gates[1].set()
    assert list(read_ndjson(queued))[-1]["type"] == "complete"


def test_enqueue_continues_the_active_path_only(api, session_type, contract):
    session_id = api.create_session(session_type)
    reply = api.send(session_id, "hello").message_id
    contract.validate_error(open_send(api, session_id, "branch", if_busy="enqueue", parent_message_id=reply),
                            400, "INVALID_REQUEST")

"""Clients that stop reading a stream, through real gunicorn workers and raw sockets.

A rejoin or an idempotent replay of a large reply reads the stored chunks a bounded piece at a time, so
a rejoiner that never reads holds about one read, never the reply; and every stream whose client
accepts nothing for STREAM_WRITE_TIMEOUT_SECONDS is cut, sends included. A client that reads slowly
but steadily still gets every chunk, in order."""
import json
import time
import uuid

import pytest
import requests

from support.backends import chunk, complete, gate, ndjson, stream_answer
from support.engine import Api, small_window_socket, token
from support.waiting import wait_until

CHUNKS = 400
CHUNK_TEXT = 20000  # 400 chunks of 20 kB: an 8 MB reply, in dozens of stored batches
WRITE_TIMEOUT = 2


def big_reply(backend):
    pieces = [f"{i:05d}" + "x" * (CHUNK_TEXT - 5) for i in range(CHUNKS)]

    def answer(event, environ):
        def body():
            for index, piece in enumerate(pieces):
                if index % 10 == 0:
                    time.sleep(0.05)  # paces the backend (not a synchronization): the chunk log stores many batches
                yield ndjson(chunk(piece))
            yield ndjson(complete())
        return stream_answer(body())
    backend.on("message.new", answer)
    return pieces


def send_request(sock, method, path, client_id, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} /api/v1{path} HTTP/1.1", "Host: engine", f"Authorization: Bearer {token(client_id)}",
             f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body is not None:
        lines.append("Content-Type: application/json")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)


def read_to_end(sock, timeout=30, pause=0.0, size=16384):
    """Everything the engine sends until it closes the connection (raw bytes, chunked framing and all)."""
    sock.settimeout(timeout)
    received = bytearray()
    while True:
        try:
            data = sock.recv(size)
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
        if received.endswith(b"\r\n0\r\n\r\n"):  # the response's end: the engine keeps the connection
            break
        if pause:
            time.sleep(pause)  # a slow reader, not a synchronization
    return bytes(received)


def dechunk(raw):
    """The body of a chunked HTTP/1.1 response."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    body = bytearray()
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body += rest[:size]
        rest = rest[size + 2:]
    return bytes(body)


def worker_memory_kb(engine, field):
    (pid,) = engine.worker_pids()
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def open_streams(engine):
    return requests.get(engine.url + "/health/ready", timeout=10).json()["streams"]["active"]


def eventually(predicate, timeout):
    try:
        return wait_until(predicate, timeout=timeout)
    except AssertionError:
        return False


@pytest.fixture
def engines(start_engine):
    """A: streams the reply and stores it in many batches. B: one worker, where the rejoiners go."""
    sender = start_engine(CHUNK_FLUSH_SECONDS=0.05)
    rejoined = start_engine(WEB_CONCURRENCY=1, STREAM_WRITE_TIMEOUT_SECONDS=WRITE_TIMEOUT)
    return sender, rejoined


def test_rejoiners_that_never_read_hold_no_copy_of_the_reply_and_are_cut(engines, backend, make_session_type, db):
    a, b = engines
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    sender = Api(a.url, client_id)
    pieces = big_reply(backend)
    session_id = sender.create_session(make_session_type(backend))
    body = {"session_id": session_id, "content": "a long one, please"}
    sent = sender.call("POST", "/messages/send", json=body, headers={"Idempotency-Key": "big-1"})
    assert sent.status_code == 200 and sent.text.rstrip().endswith("}")
    message_id = sent.headers["X-Assistant-Message-Id"]
    batches = db.execute("SELECT count(*) AS n FROM reply_chunks WHERE message_id = %s",
                         (message_id.split("~")[1],)).fetchone()["n"]
    assert batches >= 10, batches

    warm = Api(b.url, client_id).get(f"/messages/{message_id}/stream?offset={CHUNKS - 1}")  # code paths loaded
    assert warm.status_code == 200 and warm.text.count('"type":"chunk"') == 1
    before = worker_memory_kb(b, "VmRSS")

    stalled = []
    for _ in range(2):
        sock = small_window_socket(b.port)
        send_request(sock, "GET", f"/messages/{message_id}/stream?offset=0", client_id)
        stalled.append(sock)
    replayed = small_window_socket(b.port)  # an idempotent retry is a replay of the same kind
    send_request(replayed, "POST", "/messages/send", client_id, body, {"Idempotency-Key": "big-1"})
    stalled.append(replayed)
    wait_until(lambda: open_streams(b) == 3, timeout=10, message="three streams open on B")

    cut = eventually(lambda: open_streams(b) == 0, timeout=WRITE_TIMEOUT + 20)
    peak_growth_kb = worker_memory_kb(b, "VmHWM") - before
    reply_kb = CHUNKS * CHUNK_TEXT // 1024
    # Before bounded reads each rejoiner held the whole reply, decoded (tens of MB each), for as long as it
    # stayed connected; now each holds one bounded read while its write waits.
    assert peak_growth_kb < reply_kb, f"the worker grew by {peak_growth_kb} kB for a {reply_kb} kB reply"
    assert cut, "the rejoiners that never read were not cut"
    for sock in stalled:
        received = read_to_end(sock)
        assert received.startswith(b"HTTP/1.1 200") and b'"type":"complete"' not in received
        assert len(received) < CHUNKS * CHUNK_TEXT  # cut mid-reply
        sock.close()
    assert sender.get(f"/messages/{message_id}").json()["content"][0]["text"] == "".join(pieces)


def test_a_rejoiner_that_reads_slowly_gets_every_chunk_in_order(engines, backend, make_session_type):
    a, b = engines
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    sender = Api(a.url, client_id)
    pieces = big_reply(backend)
    result = sender.send(sender.create_session(make_session_type(backend)), "a long one, please")
    assert result.types[-1] == "complete"

    sock = small_window_socket(b.port)
    send_request(sock, "GET", f"/messages/{result.message_id}/stream?offset=3", client_id)
    events = [json.loads(line) for line in dechunk(read_to_end(sock, pause=0.001)).splitlines()]
    sock.close()
    assert events[0] == {"type": "start", "message_id": result.message_id}
    assert [e["chunk"]["content"] for e in events[1:-1]] == pieces[3:]
    assert events[-1]["type"] == "complete"
    stored = sender.get(f"/messages/{result.message_id}").json()["content"][0]["text"]
    assert "".join(e["chunk"]["content"] for e in result.events if e["type"] == "chunk")[:3 * CHUNK_TEXT] \
        + "".join(e["chunk"]["content"] for e in events[1:-1]) == stored


def test_a_send_whose_client_stops_reading_is_cut_and_the_reply_cancelled(start_engine, backend, make_session_type):
    engine = start_engine(WEB_CONCURRENCY=1, STREAM_WRITE_TIMEOUT_SECONDS=WRITE_TIMEOUT)
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    held = gate()
    piece = "y" * CHUNK_TEXT

    def answer(event, environ):
        def body():
            for _ in range(200):  # 4 MB: under STREAM_BUFFER_LIMIT_BYTES, so only the write timeout can cut
                yield ndjson(chunk(piece))
            held.wait()
            yield ndjson(complete())
        return stream_answer(body())
    backend.on("message.new", answer)
    session_id = Api(engine.url, client_id).create_session(make_session_type(backend))
    sock = small_window_socket(engine.port)
    send_request(sock, "POST", "/messages/send", client_id, {"session_id": session_id, "content": "flood me"})
    try:
        aborted = backend.wait_for("message.aborted", timeout=WRITE_TIMEOUT + 20)[0]
    finally:
        held.set()
    stored = Api(engine.url, client_id).get(f"/messages/{aborted['message_id']}").json()
    assert stored["is_complete"] is False and stored["metadata"]["stop_reason"] == "cancelled"
    wait_until(lambda: open_streams(engine) == 0, timeout=10, message="the stream's slot given back")
    sock.close()

"""HTTP framing and connections through real gunicorn workers and raw sockets: what only the HTTP layer sees. A chunked
body over the cap is a 413; what gunicorn itself refuses (a control character in a header, a malformed
request line) answers in the contract's error shape, not gunicorn's HTML page; a new connection that is
idle or sends its headers slowly is dropped after HEADER_TIMEOUT, not KEEPALIVE."""
import json
import re
import socket
import time

import pytest

from support.engine import token

SEND = "/api/v1/messages/send"
BODY = json.dumps({"session_id": "not-an-id", "content": "hi"}).encode()


class RawResponse:
    """An HTTP/1.1 response read off a socket, shaped enough like `requests`' for Contract.validate_error."""

    def __init__(self, raw):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status_code = int(status_line.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
        self.text = self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def read_response(sock):
    """One response read off a socket (its body by Content-Length, else up to the connection's end)."""
    received = b""
    while True:
        if b"\r\n\r\n" in received:
            head, _, body = received.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if length and len(body) >= int(length.group(1)):
                return RawResponse(received)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return RawResponse(received)
        received += data


def exchange(port, data, timeout=30):
    """Sends raw bytes on a new connection, returns the one response read back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def request(method, path, headers=(), body=b"", chunked=False):
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: engine", f"Authorization: Bearer {token('raw')}".encode(),
             *headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        framed = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % len(body))
        framed = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + framed


# -- a chunked body over MAX_REQUEST_BYTES -----------------------------------------------------------

def padded_body(size):
    """A JSON body of exactly `size` bytes, valid but for its session id."""
    empty = json.dumps({"session_id": "not-an-id", "content": ""}).encode()
    return empty[:-2] + b"a" * (size - len(empty)) + b'"}'


def test_a_chunked_body_over_the_cap_is_413_like_a_declared_one(engine_process, contract):
    cap = 1024 * 1024  # MAX_REQUEST_BYTES' default
    over = padded_body(cap + 1)
    chunked = exchange(engine_process.port, request("POST", SEND, [b"Content-Type: application/json"], over,
                                                    chunked=True))
    contract.validate_error(chunked, 413, "INVALID_REQUEST")
    declared = exchange(engine_process.port, request("POST", SEND, [b"Content-Type: application/json"], over))
    contract.validate_error(declared, 413, "INVALID_REQUEST")


@pytest.mark.parametrize("size", [len(BODY), 1024 * 1024])
def test_a_chunked_body_up_to_the_cap_is_read_whole(engine_process, contract, size):
    response = exchange(engine_process.port, request("POST", SEND, [b"Content-Type: application/json"],
                                                     padded_body(size), chunked=True))
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert body["details"]["validation_errors"][0]["field"] == "session_id"  # parsed, not malformed_json


# -- what gunicorn refuses before the app -----------------------------------------------------------

@pytest.mark.parametrize("content_type", [b"application/json\x01", b"application/\x7fjson", b"text/\x1bplain",
                                          b"application/json\x00"])
def test_a_control_character_in_content_type_is_a_json_400(engine_process, contract, content_type):
    response = exchange(engine_process.port, request("POST", SEND, [b"Content-Type: " + content_type], BODY))
    body = contract.validate_error(response, 400, "INVALID_REQUEST")
    assert response.headers["content-type"] == "application/json" and body["details"]["trace_id"]


@pytest.mark.parametrize("content_type", [b"application/json\xff", b"application/\xc3(json", b"\xe2\x82",
                                          b"application/json; charset=\xed\xa0\x80"])
def test_invalid_utf8_in_content_type_is_a_json_400(engine_process, contract, content_type):
    """Bytes past ASCII pass gunicorn (headers are latin-1 to it): the app refuses the request in its own shape."""
    response = exchange(engine_process.port, request("POST", SEND, [b"Content-Type: " + content_type], BODY))
    contract.validate_error(response, 400, "INVALID_REQUEST")
    assert response.headers["x-trace-id"] == response.json()["details"]["trace_id"]


@pytest.mark.parametrize("raw", [
    b"GET /api/v1/sessions HTTP/9.9\r\nHost: engine\r\n\r\n",
    b"GET /api/v1/sessions\x01 HTTP/1.1\r\nHost: engine\r\n\r\n",
    request("POST", SEND, [b"Content-Type: application/json"])[:-2] + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /api/v1/sessions HTTP/1.1\r\nHost: engine\r\nBad Header Name: x\r\n\r\n",
])
def test_requests_gunicorn_refuses_get_the_contract_error_shape(engine_process, contract, raw):
    response = exchange(engine_process.port, raw)
    assert 400 <= response.status_code < 500, response.text
    contract.validate_error(response, response.status_code, "INVALID_REQUEST")


# -- idle and slow-header connections ---------------------------------------------------------------

HEADER_TIMEOUT = 1


@pytest.fixture(scope="module")
def impatient_engine(database_url):
    from support.engine import EngineProcess, close_clients

    server = EngineProcess(database_url, HEADER_TIMEOUT=HEADER_TIMEOUT)
    yield server
    close_clients(server.url)
    server.stop()


def seconds_until_closed(sock, trickle=b"", limit=30):
    """Sends `trickle` a byte every 0.2 s (a slow client, not a synchronization); how long the engine
    took to close the connection, or None if it did not within `limit` seconds."""
    started = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - started < limit:
        try:
            if not sock.recv(4096):
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
            sent += 1
    return None


@pytest.mark.parametrize("trickle", [b"", b"GET /health/live HTTP/1.1\r\nHost: engine\r\nX-Slow: " + b"a" * 200])
def test_a_new_connection_that_is_idle_or_slow_with_its_headers_is_dropped(impatient_engine, trickle):
    with socket.create_connection(("127.0.0.1", impatient_engine.port)) as sock:
        closed_after = seconds_until_closed(sock, trickle)
    assert closed_after is not None and closed_after < HEADER_TIMEOUT + 5, closed_after


def test_a_kept_alive_connection_waits_keepalive_not_the_header_timeout(impatient_engine):
    probe = b"GET /health/live HTTP/1.1\r\nHost: engine\r\n\r\n"
    with socket.create_connection(("127.0.0.1", impatient_engine.port), timeout=10) as sock:
        sock.sendall(probe)
        assert read_response(sock).status_code == 200
        time.sleep(HEADER_TIMEOUT + 1)  # longer than a first request may take: a pooled connection stays
        sock.sendall(probe)
        assert read_response(sock).status_code == 200

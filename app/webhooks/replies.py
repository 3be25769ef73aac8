"""Reading a backend's answer to a streaming event: NDJSON lines or one JSON object, both as events.

Every way an answer can be wrong becomes a BackendError; a well-formed answer becomes a sequence of
("chunk", {"type", "content", ...}) and finally ("complete", metadata). A chunk keeps the optional
fields its part type defines in the contract (a code part's `language`, a media part's `mime_type`,
`filename`, `duration_seconds`), so nothing a backend says about its content is lost on the way.
"""
from urllib3.exceptions import ReadTimeoutError

from app.input_guard import MAX_JSON_DEPTH, json_value_problem, loads_strict
from app.schemas.content import PAYLOAD_FIELD, extras
from app.webhooks.errors import BackendError

# The field that holds a content part's payload, by part type (reference ContentPart schemas).
PART_FIELD = PAYLOAD_FIELD
CONTENT_TYPES = set(PART_FIELD)
MERGEABLE = {"text", "code"}
READ_SIZE = 64 * 1024


class WholePart(dict):
    """A chunk that is a complete part of a JSON answer: never merged into the part before it, so two
    adjacent code blocks stay two. It serializes like any chunk."""


def _chunk(data):
    if not isinstance(data, dict) or data.get("type") not in CONTENT_TYPES \
            or not isinstance(data.get("content"), str):
        raise BackendError("backend sent a malformed chunk")
    return {"type": data["type"], "content": data["content"], **extras(data["type"], data)}


class ContentBuilder:
    """A reply's content parts built from its chunks: streamed pieces of text or code continue the part
    before (a code chunk naming another language starts a new block); anything else is a part of its
    own. Linear in the reply's size: a continued part keeps its pieces in a list, joined when the parts
    are read (`+=` on a string held in a dict copies the whole part on every chunk: 100,000 small
    chunks of a 1 MB reply froze a worker for seconds)."""

    def __init__(self):
        self._parts = []
        self._pieces = []  # the pieces of the last part while it is being continued
        self._field = None

    def add(self, chunk):
        kind = chunk["type"]
        field = PART_FIELD[kind]
        details = {k: v for k, v in chunk.items() if k not in ("type", "content")}
        last = self._parts[-1] if self._parts else None
        if kind in MERGEABLE and not isinstance(chunk, WholePart) and last is not None and last["type"] == kind \
                and all(last.get(name, value) == value for name, value in details.items()):
            self._pieces.append(chunk["content"])
            last.update(details)
            return
        self._close_last()
        self._parts.append({"type": kind, field: chunk["content"], **details})
        self._pieces, self._field = [chunk["content"]], field

    def _close_last(self):
        if len(self._pieces) > 1:
            self._parts[-1][self._field] = "".join(self._pieces)
            self._pieces = [self._parts[-1][self._field]]

    @property
    def parts(self):
        self._close_last()
        return self._parts

    def __bool__(self):
        return bool(self._parts)


def merge_chunks(chunks):
    """The content parts that a sequence of chunks makes."""
    content = ContentBuilder()
    for chunk in chunks:
        content.add(chunk)
    return content.parts


def _metadata(value):
    return value if isinstance(value, dict) else {}


def storable_json(data, what):
    """A backend's JSON, held to what PostgreSQL stores: a NUL, a lone surrogate, NaN or nesting deeper
    than MAX_JSON_DEPTH would be relayed to the client and then fail the reply's save.
    Refused as a backend error instead, so the reply ends as backend_error with what came before it."""
    try:
        value = loads_strict(data)
    except (ValueError, RecursionError):
        raise BackendError(f"backend sent {what} that is not JSON") from None
    problem = json_value_problem(value, MAX_JSON_DEPTH)
    if problem:
        raise BackendError(f"backend sent {what} that cannot be stored ({problem[1]})")
    return value


def _ndjson_event(line):
    event = storable_json(line, "a line")
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "chunk":
        return "chunk", _chunk(event.get("chunk"))
    if kind == "complete":
        return "complete", _metadata(event.get("metadata"))
    if kind == "error":
        message = event.get("message") or event.get("error") or "backend reported an error"
        raise BackendError(f"backend error: {str(message)[:200]}")
    raise BackendError("backend sent an unknown event type")


def _part_as_chunk(part):
    if not isinstance(part, dict) or part.get("type") not in CONTENT_TYPES:
        raise BackendError("backend sent a malformed content part")
    payload = part.get(PART_FIELD[part["type"]])
    if not isinstance(payload, str):
        raise BackendError("backend sent a content part without its payload")
    return WholePart(type=part["type"], content=payload, **extras(part["type"], part))


def json_events(body):
    """A single JSON answer (MessageNewResponse or SessionSummaryResponse) relayed as chunks."""
    if not isinstance(body, dict):
        raise BackendError("backend answer is not a JSON object")
    if isinstance(body.get("summary"), str):
        yield "chunk", {"type": "text", "content": body["summary"]}
    elif isinstance(body.get("content"), list) and body["content"]:
        for part in body["content"]:
            yield "chunk", _part_as_chunk(part)
    elif isinstance(body.get("content"), str):
        yield "chunk", WholePart(type="text", content=body["content"])
    else:
        raise BackendError("backend answer has no content")
    yield "complete", _metadata(body.get("metadata"))


def read_events(response, max_bytes):
    """Events from a streaming requests.Response, parsed as bytes arrive (never waiting for more)."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-ndjson", "application/json"):
        raise BackendError(f"backend answered with unsupported content type {content_type or 'none'!r}")
    received = 0
    pending = b""
    streaming = content_type == "application/x-ndjson"
    while True:
        try:
            data = response.raw.read1(READ_SIZE)
        except (BackendError, TimeoutError, ReadTimeoutError):
            raise  # a silence longer than the read timeout: the caller reports BACKEND_TIMEOUT
        except Exception as exc:  # noqa: BLE001 - urllib3 ProtocolError, socket errors: the backend broke off
            raise BackendError(f"backend connection failed mid-answer ({type(exc).__name__})") from None
        if not data:
            break
        received += len(data)
        if received > max_bytes:
            raise BackendError("backend answer exceeds the size limit")
        if not streaming:
            pending += data
            continue
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            kind, payload = _ndjson_event(line)
            yield kind, payload
            if kind == "complete":
                return  # anything after `complete` is ignored
    if not streaming:
        yield from json_events(storable_json(pending, "an answer"))
        return
    if pending.strip():
        raise BackendError("backend closed the stream in the middle of a line")
    raise BackendError("backend closed the stream without a complete event")

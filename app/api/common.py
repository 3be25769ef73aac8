"""What every view needs: body/query loading, path ids."""
import functools

from flask import g, make_response, request

from app import ids
from app.api.request_guard import parse_json_body
from app.errors import invalid
from app.services import current_services
from app.streams.relay import WriteWatch


@functools.cache
def _schema(schema_class):
    # One instance per schema class: building one (fields deep-copied) costs as much as the JWT check,
    # and a marshmallow schema keeps no state between loads.
    return schema_class()


def expensive_read(view):
    """A view whose statements are heavy (search, exports, message pages): it runs within the caller's
    and the worker's bounds on concurrent expensive reads (app/read_slots.py), or answers 429 / 503.
    The slots are held until the body is written, not only while it is built: an export download of
    many megabytes is as much a read as the query behind it. The body goes out in pieces under
    STREAM_WRITE_TIMEOUT_SECONDS, so a client that stops reading it is cut and gives its slots back."""
    @functools.wraps(view)
    def bounded(*args, **kwargs):
        caller = g.get("caller")  # None on the public views: only the worker's bound applies
        services = current_services()
        release = services.reads.acquire(caller.client_id if caller is not None else None)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            release()
            raise
        response.call_on_close(release)  # the server closes every response it was handed, written or not
        _write_in_watched_pieces(response, services.config.stream_write_timeout_seconds)
        return response
    return bounded


def _write_in_watched_pieces(response, write_timeout_seconds):
    """Every body goes out under the write timeout, a small one too: a client that never reads (one
    pipelining requests on a kept-alive connection) would otherwise hold the read's slots for ever.
    The watch starts when the server first asks for the body: a HEAD, 204 or 304 never does."""
    if response.is_streamed:
        return
    body = response.get_data()
    sock = request.environ.get("gunicorn.socket")

    def pieces():
        watch = WriteWatch(sock, write_timeout_seconds)
        try:
            yield from watch.send(body)
        finally:
            watch.stop()
    response.response = pieces()  # Content-Length stays: the body's size is known


def load_body(schema_class, required=True):
    """Parse and validate a JSON body; every malformed input is a 400 with validation_errors."""
    schema = _schema(schema_class)
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise invalid("a JSON body is required", field="body", code="missing")
        return schema.load({})
    if not request.is_json:
        raise invalid("Content-Type must be application/json", field="body", code="content_type")
    data = parse_json_body(raw)
    if not isinstance(data, dict):
        raise invalid("body must be a JSON object", field="body", code="not_an_object")
    return schema.load(data)


def load_query(schema_class):
    return _schema(schema_class).load(request.args.to_dict())


def _session_type_id(value):
    return value if ids.is_session_type_id(value) else None


# Every id in a URL path is parsed here, and a malformed one is the same 400 whatever its kind.
_PATH_ID_PARSERS = {"session": ids.parse_session_id, "message": ids.parse_message_id,
                    "session type": _session_type_id, "share": ids.parse_uuid, "export": ids.parse_uuid}


def path_id(kind, value, field="id"):
    parsed = _PATH_ID_PARSERS[kind](value)
    if parsed is None:
        raise invalid(f"not a valid {kind} id", field=field)
    return parsed


def session_id_from_path(value):
    return path_id("session", value)


def message_id_from_path(value):
    return path_id("message", value)


def session_type_id_from_path(value):
    return path_id("session type", value)

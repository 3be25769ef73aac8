"""Hostile input stops at the API's edge as a 400 (app/input_guard.py finds it). Every body goes through
`parse_json_body` (app/api/common.load_body) and every path and query string through `check_request_text`
(a before_request hook), so no view has to remember."""
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import invalid
from app.input_guard import MAX_JSON_DEPTH, json_value_problem, loads_strict, text_problem

try:  # what gunicorn's body reader raises on broken chunked framing (the app also runs without gunicorn)
    from gunicorn.http.errors import ParseException as _FramingError
except ImportError:  # pragma: no cover
    _FramingError = ()


def _malformed(why):
    return invalid(f"body is not valid JSON: {why}", field="body", code="malformed_json")


def parse_json_body(raw):
    """Bytes -> the decoded JSON value, or a 400: strict UTF-8, no NaN/Infinity, bounded depth, storable text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("not UTF-8") from None
    try:
        data = loads_strict(text)
    except RecursionError:
        raise _malformed(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN, 1e999, integers beyond Python's digit limit
        raise _malformed(str(exc).split(":")[0]) from None
    check_json_value(data, MAX_JSON_DEPTH, "body")
    return data


def check_json_value(value, max_depth, field):
    """Every key and string storable, nesting at most max_depth containers; a 400 otherwise."""
    problem = json_value_problem(value, max_depth)
    if problem:
        code, message = problem
        raise invalid(message, field=field, code=code)


def check_streamed_body_size(request):
    """A chunked body (no Content-Length) over MAX_REQUEST_BYTES is a 413, like one whose Content-Length says
    so. werkzeug stops reading such a body at the cap and hands the rest of the app a truncated body, which
    used to be a 400 `malformed_json`. The body is read here, at most the cap and one byte more, and kept
    for the view (`request.get_data` caches it). Broken chunked framing is a 400 (it was a 500)."""
    limit = request.max_content_length
    if limit is None or request.content_length is not None \
            or "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    try:
        if len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    except _FramingError:
        raise invalid("the body's chunked framing is malformed", field="body", code="malformed_body") from None


def check_request_text(path, args):
    """Path segments and query parameters (names and values) carry no NUL or surrogates."""
    problem = text_problem(path)
    if problem:
        raise invalid(f"the URL path {problem}", field="path", code="invalid_characters")
    for name, value in args.items(multi=True):
        problem = text_problem(name) or text_problem(value)
        if problem:
            raise invalid(f"query parameters {problem}", field=name if not text_problem(name) else "query",
                          code="invalid_characters")

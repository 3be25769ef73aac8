"""Hostile input stops at the edge as a 400: what PostgreSQL or the JSON decoder would otherwise turn into a 500.

PostgreSQL refuses NUL in text and jsonb, and UTF-8 cannot carry lone surrogates, so neither may reach a
query. Python's json accepts NaN/Infinity (not JSON; jsonb refuses them) and raises RecursionError on deep
nesting. Every body goes through `parse_json_body` (app/api/common.load_body) and every path and query
string through `check_request_text` (a before_request hook), so no view has to remember.
"""
import json
import math

from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import invalid

try:  # what gunicorn's body reader raises on broken chunked framing (the app also runs without gunicorn)
    from gunicorn.http.errors import ParseException as _FramingError
except ImportError:  # pragma: no cover
    _FramingError = ()

MAX_JSON_DEPTH = 64  # bodies; session metadata has its own, smaller cap (app/chat/metadata_limits.py)


def text_problem(value):
    """Why a string cannot be stored, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired UTF-16 surrogates"
    return None


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _malformed(why):
    return invalid(f"body is not valid JSON: {why}", field="body", code="malformed_json")


def loads_strict(text):
    """json.loads without NaN/Infinity/1e999 (jsonb refuses them). Raises ValueError (RecursionError on
    deep nesting): callers say what that means to their peer."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


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


def json_depth_problem(value, max_depth):
    """Iteratively (never recursing on untrusted data): the first path nested deeper than max_depth."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def json_value_problem(value, max_depth):
    """(code, message) when a decoded value cannot be stored as jsonb: nested deeper than max_depth
    containers, or a key or string PostgreSQL refuses. None when it can."""
    if json_depth_problem(value, max_depth):
        return "too_deep", f"nested deeper than {max_depth} levels"
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            problem = text_problem(node)
            if problem:
                return "invalid_characters", f"strings {problem}"
    return None


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

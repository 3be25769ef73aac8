"""What PostgreSQL or the JSON decoder would turn into a 500, found before it gets there: the checks alone.

PostgreSQL refuses NUL in text and jsonb, and UTF-8 cannot carry lone surrogates, so neither may reach a
query. Python's json accepts NaN/Infinity (not JSON; jsonb refuses them) and raises RecursionError on deep
nesting. These functions say what is wrong; each caller says what that means to its peer: a 400 at the
API's edge (app/api/request_guard.py), a backend fault for a backend's stream, a refusal for metadata.
"""
import json
import math

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


def loads_strict(text):
    """json.loads without NaN/Infinity/1e999 (jsonb refuses them). Raises ValueError (RecursionError on
    deep nesting): callers say what that means to their peer."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


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

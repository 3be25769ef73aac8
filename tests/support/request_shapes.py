"""Every request a functional test sends is checked against the engine's own OpenAPI document.

Tests send bad requests on purpose, so a request the document forbids is not an error by itself; a
disagreement between the document and the engine is: the engine accepting (2xx) a body or query the
document forbids, or refusing as malformed one the document allows. Either raises RequestShapeDrift.
"""
import re
from urllib.parse import parse_qsl, urlsplit

import requests
from openapi_schema_validator import OAS30Validator

from support.contract import json_of

# How marshmallow's messages, and those of our id fields, start for a value of the wrong shape (missing,
# unknown, mistyped, out of range, not an id). A refusal for another reason (an expiry in the past, an
# empty patch, an undecodable cursor) is a rule the document cannot express, not drift.
_SHAPE_MESSAGES = ("Unknown field.", "Missing data for required field.", "Field may not be null.", "Not a valid",
                   "Must be one of", "Length must be", "Shorter than", "Longer than", "Must be greater",
                   "Must be less", "not a valid session", "not a valid message", "not a valid file")


class RequestShapeDrift(AssertionError):
    """The engine and its OpenAPI document disagree about the shape of a request."""


class RequestShapes:
    def __init__(self, document):
        self.document = document
        self._routes = [(re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))), template)
                        for template in document["paths"]]

    def operation(self, method, path):
        """(template, operation, path values) for a request path below /api/v1, or Nones when undocumented.
        A literal segment wins over a parameter (/messages/send over /messages/{id})."""
        method = method.lower()
        matches = [(template, match.groupdict()) for pattern, template in self._routes
                   if (match := pattern.fullmatch(path)) and method in self.document["paths"][template]]
        if not matches:
            return None, None, None
        template, values = min(matches, key=lambda m: m[0].count("{"))
        return template, self.document["paths"][template][method], values

    def body_problems(self, operation, body):
        """Why the document forbids this JSON body (empty when it allows it). `body` None: none sent."""
        declared = operation.get("requestBody")
        if declared is None:
            return []
        if body is None:
            return ["a body is required"] if declared.get("required") else []
        schema = declared["content"]["application/json"]["schema"]
        return self._problems(body, schema)

    def parameter_problems(self, template, operation, where, values):
        """Why the document forbids these path or query values."""
        problems = []
        for parameter in [*self.document["paths"][template].get("parameters", []), *operation.get("parameters", [])]:
            if parameter["in"] != where:
                continue
            name = parameter["name"]
            if name not in values:
                if parameter.get("required"):
                    problems.append(f"{where} parameter {name} is required")
                continue
            value = _as_typed(values[name], parameter["schema"])
            problems += [f"{where} parameter {name}: {p}" for p in self._problems(value, parameter["schema"])]
        return problems

    def _problems(self, instance, schema):
        validator = OAS30Validator({**schema, "components": self.document["components"]})
        return [f"{'/'.join(map(str, e.absolute_path)) or 'value'}: {e.message}"
                for e in validator.iter_errors(instance)]

    def check(self, method, path, body, params, response):
        """Raise RequestShapeDrift when the response contradicts what the document says of the request."""
        url = urlsplit(path)
        template, operation, path_values = self.operation(method, url.path)
        if operation is None:
            return
        query = {**dict(parse_qsl(url.query)), **{k: v for k, v in (params or {}).items() if v is not None}}
        problems = (self.body_problems(operation, body)
                    + self.parameter_problems(template, operation, "path", path_values)
                    + self.parameter_problems(template, operation, "query", query))
        request = f"{method.upper()} {template} (body {body!r}, query {query!r})"
        if problems and 200 <= response.status_code < 300:
            raise RequestShapeDrift(f"{request}: the engine accepted a request its OpenAPI document forbids: "
                                    f"{'; '.join(problems)}")
        refused = _refused_as_malformed(response)
        if not problems and refused:
            raise RequestShapeDrift(f"{request}: the OpenAPI document allows a request the engine refuses as "
                                    f"malformed: {refused}")


def _as_typed(value, schema):
    """A query string value as the type its schema declares (the wire has only strings)."""
    if not isinstance(value, str):
        return value
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _refused_as_malformed(response):
    if response.status_code != 400 or not response.headers.get("Content-Type", "").startswith("application/json"):
        return []
    errors = (json_of(response).get("details") or {}).get("validation_errors") or []
    return [e for e in errors if e.get("message", "").startswith(_SHAPE_MESSAGES)]


_documents = {}


def shapes_of(base_url):
    """The request checker for one engine, from the document it serves (fetched once)."""
    if base_url not in _documents:
        served = requests.get(base_url + "/api/v1/openapi.json", timeout=10)
        served.raise_for_status()
        _documents[base_url] = RequestShapes(served.json())
    return _documents[base_url]

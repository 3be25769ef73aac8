"""CORS for browser clients, from CORS_ALLOWED_ORIGINS (comma-separated origins, `*` for any).

Unset: no CORS headers at all, and a preflight is an ordinary (unauthenticated, so 401) request.
Set: a preflight (OPTIONS with Access-Control-Request-Method) is answered here with 204, before any
token is asked for, because browsers never send credentials on a preflight. Every other response
to a listed origin carries Access-Control-Allow-Origin and exposes the headers a client needs
(the new messages' ids, Retry-After). An origin that is not listed gets no Allow-Origin, so the
browser refuses to hand it the response.
"""
from flask import Response, request

EXPOSED = ("X-User-Message-Id", "X-Assistant-Message-Id", "Retry-After", "X-Request-Id", "X-Trace-Id",
           "Idempotent-Replayed", "Content-Disposition", "X-In-Flight-Message-Id", "X-Chat-Engine-Queued",
           "X-Chat-Engine-Waits-For", "X-Chat-Engine-Read-After")
METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
DEFAULT_ALLOWED_HEADERS = ("Authorization, Content-Type, X-Request-Id, Idempotency-Key, traceparent, "
                           "X-Chat-Engine-Read-After")
PREFLIGHT_MAX_AGE = "600"


def _allowed(origins, origin):
    return bool(origin) and ("*" in origins or origin in origins)


def register(app, origins):
    if not origins:
        return
    origins = frozenset(origins)

    @app.before_request
    def answer_preflight():
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        response = Response(status=204)
        if _allowed(origins, request.headers.get("Origin")):
            response.headers["Access-Control-Allow-Methods"] = METHODS
            response.headers["Access-Control-Allow-Headers"] = (
                request.headers.get("Access-Control-Request-Headers") or DEFAULT_ALLOWED_HEADERS)
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response

    @app.after_request
    def allow_origin(response):
        origin = request.headers.get("Origin")
        response.vary.add("Origin")
        if _allowed(origins, origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED)
        return response

"""One mapping of every failure to the contract's error body: {error_code, message, details}."""
import logging

import psycopg
import psycopg_pool
from flask import jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from app import tracing
from app.error_codes import (
    AUTH_REQUIRED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    MESSAGE_NOT_FOUND,
    RATE_LIMIT_EXCEEDED,
    SESSION_NOT_FOUND,
)
from app.webhooks.errors import BackendFailure, BackendTimeout, BreakerOpen

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status, error_code, message, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def invalid(message, field=None, code="invalid"):
    details = {"validation_errors": [{"field": field, "message": message, "code": code}]} if field else {}
    return ApiError(400, INVALID_REQUEST, message, details)


def too_large(message, field=None):
    """413: what was sent, or what it would make the engine store, is over a size cap."""
    details = {"validation_errors": [{"field": field, "message": "too large", "code": "too_large"}]} if field else {}
    return ApiError(413, INVALID_REQUEST, message, details)


def rate_limited(message, retry_after, limit_type="concurrent", **details):
    """429: one client over one of its caps; Retry-After and details.retry_after_seconds agree."""
    return ApiError(429, RATE_LIMIT_EXCEEDED, message,
                    {"limit_type": limit_type, "retry_after_seconds": retry_after, **details},
                    {"Retry-After": str(retry_after)})


def session_not_found(session_id=None):
    return ApiError(404, SESSION_NOT_FOUND, "session not found",
                    {"resource_id": str(session_id)} if session_id else {})


def message_not_found(message_id=None):
    return ApiError(404, MESSAGE_NOT_FOUND, "message not found",
                    {"resource_id": str(message_id)} if message_id else {})


def not_found(message):
    """A missing object that has no error code of its own in the contract (session types, share tokens)."""
    return ApiError(404, INVALID_REQUEST, message)


def auth_required(message="authentication required"):
    return ApiError(401, AUTH_REQUIRED, message, headers={"WWW-Authenticate": "Bearer"})


def conflict(message, reason=None, field="body", resource_id=None, headers=None):
    """409. The contract's ErrorDetails allows no extra fields, so a machine-readable reason travels as
    validation_errors[0].code and the object in question as resource_id (a plain UUID)."""
    details = {}
    if reason:
        details["validation_errors"] = [{"field": field, "message": message, "code": reason}]
    if resource_id:
        details["resource_id"] = str(resource_id)
    return ApiError(409, INVALID_REQUEST, message, details, headers)


def gone(message, field, code):
    """410: what the request points at existed once and is no longer kept (an expired feed cursor)."""
    return ApiError(410, INVALID_REQUEST, message,
                    {"validation_errors": [{"field": field, "message": message, "code": code}]})


def not_configured(message):
    """A feature this instance cannot serve as configured: retrying will not help, so no Retry-After."""
    return ApiError(503, INTERNAL_ERROR, message)


def backend_failed(exc, message=None):
    """A backend call's failure (after its retries) as the contract's error: the one mapping used by the
    error handler and by views that add context to the message."""
    message = message or str(exc)
    if isinstance(exc, BreakerOpen):
        return ApiError(503, exc.error_code, message, exc.details(), {"Retry-After": str(exc.retry_after_seconds)})
    return ApiError(504 if isinstance(exc, BackendTimeout) else 502, exc.error_code, message, exc.details())


def unavailable(message, retry_after=1, limit_type=None):
    details = {"retry_after_seconds": retry_after}
    code = INTERNAL_ERROR
    if limit_type:
        details["limit_type"] = limit_type
        code = RATE_LIMIT_EXCEEDED
    return ApiError(503, code, message, details, headers={"Retry-After": str(retry_after)})


# SQLSTATE classes that mean the database itself is unreachable or refusing work: connection exceptions,
# operator intervention (shutdown, cannot connect now), insufficient resources (too many connections).
_UNAVAILABLE_CLASSES = ("08", "57P", "53")


# SQLSTATE classes of a statement the database answered and refused for what it carried: data
# exceptions (NUL, bad JSON, out of range), integrity violations, program limits (a tsvector over 1 MiB).
_REFUSAL_CLASSES = ("22", "23", "54")


def refused_by_database(exc):
    """True when the database answered and refused this statement's data: the same statement would fail
    the same way again, so a retry loop (the sweep) must not keep trying it. Outages are not refusals."""
    if isinstance(exc, (UnicodeError, ValueError)) and not isinstance(exc, psycopg.Error):
        return True  # refused before it was sent (psycopg could not encode a lone surrogate, NaN)
    return isinstance(exc, psycopg.Error) and (exc.sqlstate or "").startswith(_REFUSAL_CLASSES)


def database_unreachable(exc):
    """True for an outage or a failover in progress: no connection in time, a dead connection, or a
    server that answers read-only (a demoted primary, a standby not yet promoted). Worth retrying."""
    if isinstance(exc, psycopg_pool.PoolTimeout) or isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, psycopg.OperationalError) and (not state or state.startswith(_UNAVAILABLE_CLASSES))


def classify_database_error(exc):
    """A database error as the ApiError a client should see, or None when it is a bug (500).
    Only connectivity failures are "database unavailable": a statement error is never retried forever."""
    state = exc.sqlstate or ""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        # statement_timeout (search, export): the work was too heavy now; a later retry may pass.
        return ApiError(503, INTERNAL_ERROR, "the query took too long and was cancelled, retry later",
                        {"retry_after_seconds": 5}, {"Retry-After": "5"})
    if isinstance(exc, psycopg.errors.ProgramLimitExceeded) or state.startswith("54"):
        # a size limit of PostgreSQL (message_search_vector keeps the tsvector one from ever being reached).
        return too_large("content too large to index; send it in smaller messages")
    if isinstance(exc, psycopg.DataError):
        return invalid("a value was refused by the database (out of range or not representable)")
    if isinstance(exc, psycopg.errors.SerializationFailure):
        # Nothing here runs SERIALIZABLE: a read replica cancelled a read that conflicted with replay.
        return ApiError(503, INTERNAL_ERROR, "the read was cancelled by the replica's replay, retry",
                        {"retry_after_seconds": 1}, {"Retry-After": "1"})
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):  # a failover in progress
        return ApiError(503, INTERNAL_ERROR, "database unavailable, retry shortly",
                        {"retry_after_seconds": 2}, {"Retry-After": "2"})
    if isinstance(exc, psycopg.errors.PipelineAborted):
        return None  # a statement queued after one that failed: the bug is elsewhere, not the connection
    if isinstance(exc, psycopg.OperationalError) and (not state or state.startswith(_UNAVAILABLE_CLASSES)):
        return ApiError(503, INTERNAL_ERROR, "database unavailable, retry shortly",
                        {"retry_after_seconds": 2}, {"Retry-After": "2"})
    return None


trace_id = tracing.trace_id  # the request's trace id (W3C traceparent, app/tracing.py)


def error_body(error_code, message, details=None, trace=None):
    """The contract's error body. `trace` is for code running after the request context is gone (a stream)."""
    return {"error_code": error_code, "message": message,
            "details": {**(details or {}), "trace_id": trace or trace_id()}}


def _validation_errors(messages, prefix=""):
    """Flatten marshmallow's nested messages into the contract's [{field, message, code}]."""
    out = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out += _validation_errors(value, name)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out += [{"field": prefix or "body", "message": m, "code": "invalid"} for m in messages]
    elif isinstance(messages, list):
        for item in messages:
            out += _validation_errors(item, prefix)
    else:
        out.append({"field": prefix or "body", "message": str(messages), "code": "invalid"})
    return out


def _respond(status, error_code, message, details=None, headers=None):
    response = jsonify(error_body(error_code, message, details))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register(app):
    @app.errorhandler(ApiError)
    def api_error(exc):
        return _respond(exc.status, exc.error_code, exc.message, exc.details, exc.headers)

    @app.errorhandler(ValidationError)
    def validation_error(exc):
        return _respond(400, INVALID_REQUEST, "request validation failed",
                        {"validation_errors": _validation_errors(exc.messages)})

    @app.errorhandler(HTTPException)
    def http_error(exc):
        status = exc.code or 500
        if status == 401:
            return api_error(auth_required())
        if status >= 500:
            return _respond(status, INTERNAL_ERROR, "internal error")
        message = {404: "no such endpoint", 405: "method not allowed",
                   413: "request body too large"}.get(status, exc.name)
        allowed = getattr(exc, "valid_methods", None)
        return _respond(status, INVALID_REQUEST, message, headers={"Allow": ", ".join(allowed)} if allowed else None)

    @app.errorhandler(BackendFailure)
    def backend_failure(exc):
        # A JSON call to a backend (session.created, health check) failed after its retries.
        return api_error(backend_failed(exc))

    @app.errorhandler(psycopg_pool.PoolTimeout)
    @app.errorhandler(psycopg_pool.TooManyRequests)
    def pool_exhausted(exc):
        log.warning("database pool exhausted: %s", exc, extra={"trace_id": trace_id()})
        return _respond(503, INTERNAL_ERROR, "service busy, retry shortly",
                        {"retry_after_seconds": 1}, {"Retry-After": "1"})

    @app.errorhandler(psycopg.errors.TransactionRollback)
    def transaction_conflict(exc):
        log.warning("transaction conflict: %s", exc, extra={"trace_id": trace_id()})
        return _respond(503, INTERNAL_ERROR, "conflicting concurrent update, retry",
                        {"retry_after_seconds": 1}, {"Retry-After": "1"})

    @app.errorhandler(psycopg.Error)
    def database_error(exc):
        error = classify_database_error(exc)
        if error is None:
            log.error("database error: %s", exc, exc_info=exc, extra={"trace_id": trace_id()})
            return _respond(500, INTERNAL_ERROR, "internal error")
        if error.status >= 500:
            log.warning("database error (%s): %s", error.message, exc, extra={"trace_id": trace_id()})
        return api_error(error)

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error", extra={"trace_id": trace_id()})
        return _respond(500, INTERNAL_ERROR, "internal error")

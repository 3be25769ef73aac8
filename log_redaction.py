"""Secrets and content never reach a log line: share tokens, export signatures, bearer tokens, webhook
secrets, passwords in URLs, query values (search text) and database error details (which may quote
stored content).

A top-level module with no imports from `app`: gunicorn's master loads it (gunicorn.conf.py,
`logger_class`) before any worker, and importing the `app` package there would load psycopg before
gevent patches the workers (see wsgi.py).
"""
import logging
import re

from gunicorn.glogging import Logger

REDACTED = "[redacted]"

_SHARE_TOKEN = re.compile(r"(/api/v1/share/)[^/?#\s\"']+")
# Every query value: export signatures, cursors and search text alike; the parameter names stay.
_QUERY_VALUE = re.compile(r"([?&][^=&?#\s\"']+=)[^&#\s\"']*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9_-]+")
_SIGNATURE = re.compile(r"\bv1=[0-9a-f]{16,}")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@")  # postgresql://user:pw@host
# PostgreSQL's DETAIL / CONTEXT lines can quote the row or parameter that failed: message content.
_DATABASE_DETAIL = re.compile(r"^(\s*(?:DETAIL|CONTEXT|HINT|LINE \d+):).*$", re.M)


def redact(text):
    if not text:
        return text
    text = _SHARE_TOKEN.sub(r"\1" + REDACTED, text)
    text = _QUERY_VALUE.sub(r"\1" + REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _WEBHOOK_SECRET.sub("whsec_" + REDACTED, text)
    text = _SIGNATURE.sub("v1=" + REDACTED, text)
    text = _URL_PASSWORD.sub(r"\1" + REDACTED + "@", text)
    return _DATABASE_DETAIL.sub(r"\1 " + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message (and its traceback) before any handler formats it."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string still must not leak its arguments
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not getattr(record, "_redacted_exc", False):
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record._redacted_exc = True
        if isinstance(getattr(record, "path", None), str):
            record.path = redact(record.path)
        return True


def install(logger):
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with redacted access and error lines (gunicorn.conf.py: logger_class)."""

    SECRET_HEADER_ATOMS = {"{authorization}i", "{proxy-authorization}i", "{cookie}i", "{x-chat-engine-signature}i"}

    def setup(self, cfg):
        super().setup(cfg)
        install(self.error_log)
        install(self.access_log)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in self.SECRET_HEADER_ATOMS & set(atoms):
            atoms[key] = REDACTED
        return atoms

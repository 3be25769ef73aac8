"""Structured JSON logs carrying the request id and trace id (never message contents, tokens or
signatures: see log_redaction.py)."""
import json
import logging
import sys
import time

from flask import g, has_request_context, request

from log_redaction import RedactingFilter, redact


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["trace_id"] = g.get("trace_id")
            entry["path"] = redact(request.path)
        for key in ("trace_id", "status", "duration_ms", "method"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = record.exc_text or redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    # On the handler, so records propagated from every logger pass it (share tokens, secrets, details).
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

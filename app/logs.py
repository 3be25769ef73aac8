"""Structured JSON logs carrying the request id and trace id (never message contents)."""
import json
import logging
import sys
import time

from flask import g, has_request_context, request


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["trace_id"] = g.get("trace_id")
            entry["path"] = request.path
        for key in ("trace_id", "status", "duration_ms", "method"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

"""The demo backend's webhook: capabilities on session.created, a streamed echo for message.new and
message.recreate, a summary for session.summary, and an empty 200 for notices."""
import json

import gevent

from demo_backend.verify import signature_is_valid

CAPABILITIES = [
    {"id": "web_search", "name": "Web search", "description": "Pretends to search the web",
     "enabled_by_default": True},
    {"id": "file_attachments", "name": "File attachments", "description": "Accepts file ids",
     "enabled_by_default": False},
]


def _reply_words(event):
    if event["event"] == "message.new":
        content = event["message"]["content"]
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        return f"You said: {text}".split(" ")
    if event["event"] == "message.recreate":
        turns = len(event.get("history", []))
        return f"Here is another answer, after {turns} earlier messages.".split(" ")
    turns = len(event.get("history", []))
    return f"A conversation of {turns} messages.".split(" ")


def make_app(delay=0.05, mode="ok", webhook_secrets=()):
    """mode: "ok" streams replies; "error" answers message events with HTTP 500; "hang" never answers
    them (for isolation runs: a broken backend next to a healthy one).
    webhook_secrets: when given, requests without a valid, fresh engine signature get 401."""
    def stream(words):
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            yield (json.dumps({"type": "chunk", "chunk": {"type": "text", "content": piece}}) + "\n").encode()
            if delay:
                gevent.sleep(delay)
        usage = {"input_tokens": 0, "output_tokens": len(words), "total_tokens": len(words)}
        yield (json.dumps({"type": "complete", "metadata": {"usage": usage}}) + "\n").encode()

    def app(environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
        except ValueError:
            raw = b""
        if webhook_secrets and not signature_is_valid(
                webhook_secrets, environ.get("HTTP_X_CHAT_ENGINE_TIMESTAMP"),
                environ.get("HTTP_X_CHAT_ENGINE_SIGNATURE"), raw):
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": "missing, invalid or stale signature"}']
        try:
            event = json.loads(raw or b"{}")
            kind = event["event"]
        except (ValueError, KeyError, TypeError):
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [b'{"error": "expected a JSON event"}']
        if kind in ("message.new", "message.recreate", "session.summary"):
            if mode == "error":
                start_response("500 Internal Server Error", [("Content-Type", "application/json")])
                return [b'{"error": "demo backend in error mode"}']
            if mode == "hang":
                gevent.sleep(3600)
            start_response("200 OK", [("Content-Type", "application/x-ndjson")])
            return stream(_reply_words(event))
        if kind == "session.created":
            body = {"available_capabilities": CAPABILITIES}
        elif kind == "session_type.health_check":
            body = {"status": "healthy", "version": "1.0.0", "capabilities": CAPABILITIES}
        else:
            body = {}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return app

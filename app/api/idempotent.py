"""Reading the Idempotency-Key header of a request into a claim (app/chat/idempotency.py)."""
from flask import request

from app.chat.idempotency import HEADER, MAX_KEY_LENGTH, Claim
from app.errors import invalid


def claim(services, caller, operation, body):
    """The request's claim, or None without the header. `operation` names what the key may repeat."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise invalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", field=HEADER)
    return Claim(caller.client_id, key, operation, body, services.config.idempotency_ttl_seconds)
